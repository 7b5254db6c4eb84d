import { describe, expect, it } from "vitest";
import {
  formatAmount,
  formatBytes,
  formatCount,
  formatDuration,
  formatElapsed,
  formatFlops,
  formatHours,
  formatMoney,
  formatPercent,
  formatRate,
  parseCount,
} from "./units";

describe("formatBytes", () => {
  it("states GPU memory in binary units and storage in decimal ones", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(80 * 2 ** 30)).toBe("80 GiB");
    expect(formatBytes(139_015_842_365)).toBe("129.5 GiB");
    expect(formatBytes(2.5 * 2 ** 50)).toBe("2.5 PiB");
    expect(formatBytes(4e14, { si: true })).toBe("400 TB");
    expect(formatBytes(150_640_609_198, { si: true })).toBe("150.6 GB");
    expect(formatBytes(999, { si: true })).toBe("999 B");
  });

  it("keeps the sign of a shortfall and says nothing for no value", () => {
    expect(formatBytes(-61_570_527_117)).toBe("-57.3 GiB");
    expect(formatBytes(null)).toBe("—");
    expect(formatBytes(undefined)).toBe("—");
    expect(formatBytes(Number.NaN)).toBe("—");
  });
});

describe("formatDuration", () => {
  it("picks milliseconds, seconds, minutes, hours or days", () => {
    expect(formatDuration(0)).toBe("0 ms");
    expect(formatDuration(0.2093)).toBe("209 ms");
    expect(formatDuration(1)).toBe("1 s");
    expect(formatDuration(45.25)).toBe("45.3 s");
    expect(formatDuration(119)).toBe("119 s");
    expect(formatDuration(750)).toBe("12.5 min");
    expect(formatDuration(12_775)).toBe("3.5 h");
    expect(formatDuration(71 * 3600)).toBe("71 h");
    expect(formatDuration(102_200 * 4)).toBe("4.7 days");
    expect(formatDuration(365 * 86400)).toBe("365 days");
  });

  it("says nothing for no value", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe("—");
  });
});

describe("formatMoney", () => {
  it("writes the currency's code, thousands separators and two decimals", () => {
    expect(formatMoney("22.320000", "USD")).toBe("USD 22.32");
    expect(formatMoney(1234.5, "USD")).toBe("USD 1,234.50");
    expect(formatMoney("4687.6", "EUR")).toBe("EUR 4,687.60");
    expect(formatMoney("0", "USD")).toBe("USD 0.00");
    expect(formatMoney("0.5", "USD")).toBe("USD 0.50");
    expect(formatMoney("0.05", "USD")).toBe("USD 0.05");
  });

  it("keeps three significant digits where two decimals would round a small amount", () => {
    expect(formatMoney("0.079205", "USD")).toBe("USD 0.0792");
    expect(formatMoney("0.0009", "USD")).toBe("USD 0.0009");
    expect(formatMoney(0.000123456, "USD")).toBe("USD 0.000123");
  });

  it("says there is no price, and copes without a currency", () => {
    expect(formatMoney(null, "USD")).toBe("no price");
    expect(formatMoney(undefined, null)).toBe("no price");
    expect(formatMoney("", "USD")).toBe("no price");
    expect(formatMoney("abc", "USD")).toBe("no price");
    expect(formatMoney("2.79", null)).toBe("2.79");
    expect(formatAmount("5000")).toBe("5,000.00");
    expect(formatAmount(null)).toBe("—");
  });
});

describe("formatHours", () => {
  it("drops the API's trailing zeros", () => {
    expect(formatHours("12.000")).toBe("12");
    expect(formatHours("0.250")).toBe("0.25");
    expect(formatHours("1234.500")).toBe("1,234.5");
    expect(formatHours(null)).toBe("—");
  });
});

describe("formatElapsed", () => {
  it("says seconds, minutes, hours and minutes, or days and hours", () => {
    expect(formatElapsed(45)).toBe("45 s");
    expect(formatElapsed(12 * 60 + 5)).toBe("12 min");
    expect(formatElapsed(5400)).toBe("1 h 30 min");
    expect(formatElapsed(7200)).toBe("2 h");
    expect(formatElapsed(47 * 3600 + 60)).toBe("47 h 1 min");
    expect(formatElapsed(76 * 3600)).toBe("3 d 4 h");
    expect(formatElapsed(72 * 3600)).toBe("3 d");
  });

  it("says nothing for a job that never started", () => {
    expect(formatElapsed(null)).toBe("—");
    expect(formatElapsed(undefined)).toBe("—");
  });
});

describe("formatFlops", () => {
  it("uses SI prefixes with three significant digits", () => {
    expect(formatFlops(0)).toBe("0 FLOP");
    expect(formatFlops(950)).toBe("950 FLOP");
    expect(formatFlops(662_413_208_715_264)).toBe("662 TFLOP");
    expect(formatFlops(4.0430493696e19)).toBe("40.4 EFLOP");
    expect(formatFlops(3.14e23)).toBe("314 ZFLOP");
    expect(formatFlops(null)).toBe("—");
  });
});

describe("formatCount", () => {
  it("shortens large counts as model cards do", () => {
    expect(formatCount(999)).toBe("999");
    expect(formatCount(108_310_272)).toBe("108.3M");
    expect(formatCount(6_738_415_616)).toBe("6.7B");
    expect(formatCount(405_853_388_800)).toBe("405.9B");
    expect(formatCount(2e12)).toBe("2T");
    expect(formatCount(null)).toBe("—");
  });
});

describe("formatRate", () => {
  it("says a rate per second to three significant digits", () => {
    expect(formatRate(3.2)).toBe("3.2/s");
    expect(formatRate(51.04)).toBe("51/s");
    expect(formatRate(0)).toBe("0/s");
    expect(formatRate(null)).toBe("—");
  });
});

describe("formatPercent", () => {
  it("rounds to a whole percent and refuses a zero whole", () => {
    expect(formatPercent(1, 3)).toBe("33 %");
    expect(formatPercent(5, 0)).toBe("—");
  });
});

describe("parseCount", () => {
  it("reads plain numbers, exponents and suffixes", () => {
    expect(parseCount("7000000000")).toBe(7e9);
    expect(parseCount("6.7e9")).toBe(6.7e9);
    expect(parseCount(" 7B ")).toBe(7e9);
    expect(parseCount("500m")).toBe(5e8);
    expect(parseCount("2T")).toBe(2e12);
    expect(parseCount("1.5 k")).toBe(1500);
    expect(parseCount("1,000,000")).toBe(1e6);
    expect(parseCount("1_000")).toBe(1000);
  });

  it("refuses anything else", () => {
    expect(parseCount("")).toBeNull();
    expect(parseCount("seven")).toBeNull();
    expect(parseCount("7X")).toBeNull();
    expect(parseCount("-5")).toBeNull();
    expect(parseCount("1e999")).toBeNull();
  });
});
