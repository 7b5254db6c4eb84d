import { fireEvent, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { LogTail } from "../hooks/useLogTail";
import { LogPanel, MAX_MATCHES, findMatches } from "./LogPanel";

const RECEIVED = new Date(2026, 11, 6, 9, 5, 7).getTime();

function tail(text: string, overrides: Partial<LogTail> = {}): LogTail {
  return { text, arrivals: text ? [{ start: 0, receivedAt: RECEIVED }] : [], complete: false, waiting: false, error: null, ...overrides };
}

const LOG = "loading data\nepoch 1 loss 2.3\nepoch 2 loss 1.9\nError: CUDA out of memory\nepoch 3 LOSS 1.5\n";

/** jsdom has no layout: give the log box a size and a scroll position. */
function layout(pre: HTMLElement, { scrollHeight, clientHeight }: { scrollHeight: number; clientHeight: number }) {
  Object.defineProperty(pre, "scrollHeight", { configurable: true, value: scrollHeight });
  Object.defineProperty(pre, "clientHeight", { configurable: true, value: clientHeight });
}

describe("LogPanel", () => {
  it("finds every match in any case, marks the current one and steps through them", async () => {
    render(<LogPanel tail={tail(LOG)} active={false} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Search the log"), "loss");
    const log = screen.getByTestId("job-logs");
    const marks = log.querySelectorAll("mark");
    expect([...marks].map((m) => m.textContent)).toEqual(["loss", "loss", "LOSS"]);
    expect(screen.getByTestId("log-search-count")).toHaveTextContent("1 of 3");
    expect(marks[0]).toHaveClass("log-match-current");
    // The text itself is unchanged by the highlighting.
    expect(log.textContent).toBe(LOG);

    await user.click(screen.getByRole("button", { name: "Next" }));
    expect(screen.getByTestId("log-search-count")).toHaveTextContent("2 of 3");
    expect(log.querySelectorAll("mark")[1]).toHaveClass("log-match-current");
    await user.click(screen.getByLabelText("Search the log"));
    await user.keyboard("{Enter}{Enter}"); // Enter in the box: the next; past the last, the first
    expect(screen.getByTestId("log-search-count")).toHaveTextContent("1 of 3");
    await user.keyboard("{Shift>}{Enter}{/Shift}");
    expect(screen.getByTestId("log-search-count")).toHaveTextContent("3 of 3");
    await user.click(screen.getByRole("button", { name: "Previous" }));
    expect(screen.getByTestId("log-search-count")).toHaveTextContent("2 of 3");

    await user.clear(screen.getByLabelText("Search the log"));
    await user.type(screen.getByLabelText("Search the log"), "nothing like it");
    expect(screen.getByTestId("log-search-count")).toHaveTextContent("no match");
    expect(screen.getByRole("button", { name: "Next" })).toBeDisabled();
  });

  it("keeps the search while new lines arrive", async () => {
    const { rerender } = render(<LogPanel tail={tail("a loss\n")} active />);
    await userEvent.type(screen.getByLabelText("Search the log"), "loss");
    expect(screen.getByTestId("log-search-count")).toHaveTextContent("1 of 1");
    rerender(<LogPanel tail={tail("a loss\nb loss\n")} active />);
    expect(screen.getByTestId("log-search-count")).toHaveTextContent("1 of 2");
  });

  it("wraps long lines by default and can stop", async () => {
    render(<LogPanel tail={tail(LOG)} active={false} />);
    const log = screen.getByTestId("job-logs");
    expect(log).not.toHaveClass("log-nowrap");
    await userEvent.click(screen.getByLabelText("Wrap lines"));
    expect(log).toHaveClass("log-nowrap");
  });

  it("shows when each line was received, or the time the line itself carries, and says which is which", async () => {
    const text = "plain line\n2026-12-06T13:42:01Z worker started\n[2026-12-06 13:42:09,120] INFO ready\nlater line\n";
    const arrivals = [
      { start: 0, receivedAt: RECEIVED },
      { start: text.indexOf("later"), receivedAt: RECEIVED + 5000 },
    ];
    render(<LogPanel tail={tail(text, { arrivals })} active={false} />);
    expect(screen.queryByTestId("log-time-legend")).not.toBeInTheDocument();
    await userEvent.click(screen.getByLabelText("Timestamps"));
    expect(screen.getByTestId("log-time-legend")).toHaveTextContent("when this page received the line");
    const lines = [...screen.getByTestId("job-logs").querySelectorAll(".log-line")];
    const times = lines.map((line) => line.querySelector(".log-time"));
    expect(times.map((t) => t?.textContent)).toEqual(["09:05:07", "13:42:01", "13:42:09", "09:05:12"]);
    expect(times.map((t) => t?.classList.contains("log-time-own"))).toEqual([false, true, true, false]);
    expect(times[0]).toHaveAttribute("title", expect.stringContaining("Received by this page"));
    // The line's text is still all there after its time.
    expect(lines[1]).toHaveTextContent("2026-12-06T13:42:01Z worker started");
  });

  it("follows new output at the bottom, stays put when scrolled up, and jumps back to the end", () => {
    const { rerender } = render(<LogPanel tail={tail("line 1\n")} active />);
    const log = screen.getByTestId("job-logs");
    expect(screen.getByTestId("job-logs-status")).toHaveTextContent("following…");

    layout(log, { scrollHeight: 1000, clientHeight: 200 });
    rerender(<LogPanel tail={tail("line 1\nline 2\n")} active />);
    expect(log.scrollTop).toBe(1000); // followed

    log.scrollTop = 100; // the user scrolls up
    fireEvent.scroll(log);
    expect(screen.getByTestId("job-logs-status")).toHaveTextContent("Jump to end to follow");
    layout(log, { scrollHeight: 1200, clientHeight: 200 });
    rerender(<LogPanel tail={tail("line 1\nline 2\nline 3\n")} active />);
    expect(log.scrollTop).toBe(100); // stayed where the user is reading

    fireEvent.click(within(screen.getByRole("toolbar")).getByRole("button", { name: "Jump to end" }));
    expect(log.scrollTop).toBe(1200);
    expect(screen.getByTestId("job-logs-status")).toHaveTextContent("following…");
    layout(log, { scrollHeight: 1400, clientHeight: 200 });
    rerender(<LogPanel tail={tail("line 1\nline 2\nline 3\nline 4\n")} active />);
    expect(log.scrollTop).toBe(1400); // following again, without a reload
  });

  it("offers the whole log as a download", () => {
    render(<LogPanel tail={tail(LOG)} active={false} downloadUrl="/api/v1/jobs/7/logs/download/" />);
    const link = screen.getByTestId("log-download");
    expect(link).toHaveAttribute("href", "/api/v1/jobs/7/logs/download/");
    expect(link).toHaveAttribute("download");
  });

  it("caps how many matches it marks", () => {
    expect(findMatches("ab".repeat(MAX_MATCHES + 50), "a")).toHaveLength(MAX_MATCHES + 1);
    expect(findMatches("aaaa", "aa")).toEqual([0, 2]);
    expect(findMatches("abc", "")).toEqual([]);
  });
});
