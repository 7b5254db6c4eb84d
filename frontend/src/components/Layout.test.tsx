import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { createQueryClient } from "../queryClient";
import { LocationProbe, mockApi, page } from "../test/utils";
import { Layout } from "./Layout";

const me = { id: 1, username: "alice", is_staff: false, teams: [], administers: [] };

function renderShell() {
  mockApi({ "GET /api/v1/auth/me/": { body: me }, "GET /api/v1/budgets/": { body: page([]) } });
  return render(
    <QueryClientProvider client={createQueryClient()}>
      <MemoryRouter initialEntries={["/jobs"]}>
        <Routes>
          <Route element={<Layout />}>
            <Route path="*" element={<p>page</p>} />
          </Route>
        </Routes>
        <LocationProbe />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe("Layout's menu button (narrow screens)", () => {
  it("says whether the menu is open and which element it opens", async () => {
    renderShell();
    const button = screen.getByRole("button", { name: "Menu" });
    const menu = document.getElementById(button.getAttribute("aria-controls")!)!;
    expect(menu).toContainElement(screen.getByRole("navigation", { name: "Main" }));
    expect(button).toHaveAttribute("aria-expanded", "false");
    expect(menu).not.toHaveClass("open");

    await userEvent.setup().click(button);
    expect(button).toHaveAttribute("aria-expanded", "true");
    expect(menu).toHaveClass("open");
  });

  it("works from the keyboard: Enter opens it, Escape closes it and gives the focus back", async () => {
    renderShell();
    const user = userEvent.setup();
    const button = screen.getByRole("button", { name: "Menu" });
    button.focus();
    await user.keyboard("{Enter}");
    expect(button).toHaveAttribute("aria-expanded", "true");
    await user.tab();
    expect(screen.getByRole("link", { name: "Jobs" })).toHaveFocus();

    await user.keyboard("{Escape}");
    expect(button).toHaveAttribute("aria-expanded", "false");
    expect(button).toHaveFocus();
  });

  it("closes once a page is chosen", async () => {
    renderShell();
    const user = userEvent.setup();
    const button = screen.getByRole("button", { name: "Menu" });
    await user.click(button);
    await user.click(screen.getByRole("link", { name: "Planner" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/planner"));
    expect(button).toHaveAttribute("aria-expanded", "false");
  });
});
