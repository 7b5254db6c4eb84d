// Parsing of the "KEY=VALUE per line" and "one package per line" textareas on the submit form.

export interface LineError {
  line: number;
  message: string;
}

export interface EnvVarsResult {
  vars: Record<string, string>;
  errors: LineError[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses lines of KEY=VALUE. Blank lines and lines starting with # are skipped; the value is
 * everything after the first "=" (so it may itself contain "=" and may be empty); whitespace
 * around the key is ignored but the value is kept as written, apart from a trailing CR.
 */
export function parseEnvVars(text: string): EnvVarsResult {
  const vars: Record<string, string> = {};
  const errors: LineError[] = [];
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/\r$/, "");
    const lineNo = index + 1;
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const eq = line.indexOf("=");
    if (eq === -1) {
      errors.push({ line: lineNo, message: `Line ${lineNo}: expected KEY=VALUE.` });
      return;
    }
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1);
    if (!ENV_NAME.test(key)) {
      errors.push({
        line: lineNo,
        message: `Line ${lineNo}: "${key}" is not a valid variable name (letters, digits and _, not starting with a digit).`,
      });
      return;
    }
    if (Object.prototype.hasOwnProperty.call(vars, key)) {
      errors.push({ line: lineNo, message: `Line ${lineNo}: ${key} is set more than once.` });
      return;
    }
    vars[key] = value;
  });
  return { vars, errors };
}

/** Formats a mapping back into the textarea's KEY=VALUE lines. */
export function formatEnvVars(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([key, value]) => `${key}=${value}`)
    .join("\n");
}

/** One requirement per line; blank lines and # comments are skipped. */
export function parsePipPackages(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}
