// Command-line numbers for the bench scripts: absent → the default, else a finite number at least `min`.
export function numberArg(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!(Number.isFinite(value) && value >= min)) throw new Error(`--${name} must be a number ≥ ${min}, got '${raw}'`);
  return value;
}
