// The part of the `amqplib` client the RabbitMQ peer uses, loaded when the peer runs rather than
// imported: amqplib is a development dependency of the benchmark only, and a checkout without
// it builds, and reports the RabbitMQ peer as skipped with how to install it.

export const AMQPLIB_INSTALL = 'npm install -D amqplib@2.3.1';

export interface AmqpMessage {
  content: Buffer;
}

export interface AmqpChannel {
  prefetch(count: number): Promise<unknown>;
  consume(queue: string, onMessage: (m: AmqpMessage | null) => void, options: { noAck: boolean }): Promise<{ consumerTag: string }>;
  ack(message: AmqpMessage): void;
  cancel(consumerTag: string): Promise<unknown>;
  close(): Promise<void>;
}

export interface AmqpConfirmChannel extends AmqpChannel {
  assertQueue(queue: string, options: { durable: boolean; arguments: Record<string, unknown> }): Promise<unknown>;
  sendToQueue(queue: string, content: Buffer, options: { persistent: boolean }, confirmed: (err: unknown) => void): boolean;
  purgeQueue(queue: string): Promise<{ messageCount: number }>;
}

export interface AmqpConnection {
  readonly connection: { serverProperties: Record<string, unknown> };
  createChannel(): Promise<AmqpChannel>;
  createConfirmChannel(): Promise<AmqpConfirmChannel>;
  close(): Promise<void>;
}

type Connect = (url: string) => Promise<AmqpConnection>;

/** amqplib's promise API `connect`, or null when the package is not installed. */
export async function loadAmqplib(): Promise<Connect | null> {
  // A variable, so that the compiler does not look for the package's types.
  const name = 'amqplib';
  try {
    const module = (await import(name)) as { connect?: Connect; default?: { connect: Connect } };
    return module.connect ?? module.default?.connect ?? null;
  } catch {
    return null;
  }
}
