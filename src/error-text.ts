// The text of a caught value, for logs and error messages: an Error's message, anything else as a
// string (a rejection need not be an Error).

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
