import { describe, expect, it } from "vitest";
import { formatEnvVars, parseEnvVars, parsePipPackages } from "./envVars";

describe("parseEnvVars", () => {
  it("parses KEY=VALUE lines and skips blanks and comments", () => {
    const result = parseEnvVars("A=1\n\n# a comment\nB=two words\r\n  C = x\n");
    expect(result.errors).toEqual([]);
    expect(result.vars).toEqual({ A: "1", B: "two words", C: " x" });
  });

  it("splits at the first = so values may contain = and be empty", () => {
    expect(parseEnvVars("URL=postgres://u:p@h/db?sslmode=require\nEMPTY=").vars).toEqual({
      URL: "postgres://u:p@h/db?sslmode=require",
      EMPTY: "",
    });
  });

  it("reports lines without =, bad names and duplicates with their line numbers", () => {
    const result = parseEnvVars("GOOD=1\nnot a pair\n1BAD=x\n=x\nGOOD=2");
    expect(result.vars).toEqual({ GOOD: "1" });
    expect(result.errors.map((e) => e.line)).toEqual([2, 3, 4, 5]);
    expect(result.errors[0]?.message).toMatch(/Line 2: expected KEY=VALUE/);
    expect(result.errors[1]?.message).toMatch(/"1BAD" is not a valid variable name/);
    expect(result.errors[3]?.message).toMatch(/GOOD is set more than once/);
  });

  it("returns nothing for empty input", () => {
    expect(parseEnvVars("")).toEqual({ vars: {}, errors: [] });
  });

  it("round-trips through formatEnvVars", () => {
    const vars = { A: "1", B: "x=y" };
    expect(parseEnvVars(formatEnvVars(vars)).vars).toEqual(vars);
  });
});

describe("parsePipPackages", () => {
  it("takes one trimmed requirement per line", () => {
    expect(parsePipPackages(" torch==2.5.1 \n\n# pinned\nnumpy>=2\r\n")).toEqual(["torch==2.5.1", "numpy>=2"]);
  });
});
