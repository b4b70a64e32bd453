// The benchmark scripts' command-line options: `--name value` pairs, read with a default, and
// checked before a script starts anything (a bad figure stops it with the option's name).

const argv = process.argv.slice(2);

/** The value after `--name`, or `def` when the option is absent or has no value. */
export function arg(name: string, def: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
}

/** A comma-separated list, empty items dropped. */
export function list(text: string): string[] {
  return text.split(',').filter((x) => x !== '');
}

/** `text` as a whole number from `min` to `max` (`--name`'s value), or an error that names the option. */
export function wholeNumber(name: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    throw new Error(`--${name}: expected a whole number ${range}, got ${text}`);
  }
  return v;
}

/** Whether `--name`, an option without a value, was given. */
export function flag(name: string): boolean {
  return argv.includes(`--${name}`);
}
