import { screen, waitFor, within } from "@testing-library/react";
import { render } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState, type FormEvent } from "react";
import { describe, expect, it } from "vitest";
import { mockApi, page, renderPage } from "../test/utils";
import { TokensPage } from "../pages/TokensPage";
import { Field } from "./Field";
import { FormError } from "./FormError";

/** A form checked in the browser, as CommandForm does: errors set by the submit itself. */
function CheckedForm({ general = [] as string[] }) {
  const [values, setValues] = useState({ name: "", gpus: "x" });
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const next: Record<string, string[]> = {};
    if (!values.name) next.name = ["Give it a name."];
    if (!/^\d+$/.test(values.gpus)) next.gpus = ["A whole number of GPUs."];
    setErrors(next);
  };
  return (
    <form onSubmit={onSubmit} noValidate>
      <FormError messages={general} />
      <Field label="Note">
        <input />
      </Field>
      <Field label="Name" errors={errors.name}>
        <input value={values.name} onChange={(e) => setValues((v) => ({ ...v, name: e.target.value }))} />
      </Field>
      <Field label="GPUs" errors={errors.gpus}>
        <input value={values.gpus} onChange={(e) => setValues((v) => ({ ...v, gpus: e.target.value }))} />
      </Field>
      <button type="submit">Submit</button>
    </form>
  );
}

const fieldOf = (label: string) => screen.getByLabelText(label).closest(".field") as HTMLElement;

describe("Field errors", () => {
  it("focuses the first field with an error after a failed submit", async () => {
    const user = userEvent.setup();
    render(<CheckedForm />);
    await user.click(screen.getByRole("button", { name: "Submit" }));
    expect(within(fieldOf("Name")).getByText("Give it a name.")).toBeInTheDocument();
    expect(within(fieldOf("GPUs")).getByText("A whole number of GPUs.")).toBeInTheDocument();
    expect(screen.getByLabelText("Name")).toHaveFocus();
  });

  it("puts a field's error away as soon as that field changes, and only that field's", async () => {
    const user = userEvent.setup();
    render(<CheckedForm />);
    await user.click(screen.getByRole("button", { name: "Submit" }));
    await user.type(screen.getByLabelText("GPUs"), "4");

    expect(within(fieldOf("GPUs")).queryByText("A whole number of GPUs.")).not.toBeInTheDocument();
    expect(screen.getByLabelText("GPUs")).not.toHaveAttribute("aria-invalid");
    expect(within(fieldOf("Name")).getByText("Give it a name.")).toBeInTheDocument();
    expect(screen.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
  });

  it("shows the same error again when the submit still finds it, and focuses it", async () => {
    const user = userEvent.setup();
    render(<CheckedForm />);
    await user.type(screen.getByLabelText("Name"), "run");
    await user.click(screen.getByRole("button", { name: "Submit" }));
    expect(screen.getByLabelText("GPUs")).toHaveFocus();
    await user.clear(screen.getByLabelText("GPUs"));
    await user.type(screen.getByLabelText("GPUs"), "two");
    expect(within(fieldOf("GPUs")).queryByText("A whole number of GPUs.")).not.toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Submit" }));
    expect(within(fieldOf("GPUs")).getByText("A whole number of GPUs.")).toBeInTheDocument();
    expect(screen.getByLabelText("GPUs")).toHaveFocus();
  });

  it("never takes the focus for errors that were not asked for by a submit", async () => {
    const user = userEvent.setup();
    const { rerender } = render(<CheckedForm />);
    await user.click(screen.getByLabelText("Note"));
    rerender(<CheckedForm general={["Could not reach the planner."]} />);
    expect(screen.getByTestId("form-error")).toHaveTextContent("Could not reach the planner.");
    expect(screen.getByLabelText("Note")).toHaveFocus();
  });

  it("on a server's 400: focuses its first field, and puts the error away once the field changes", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page([]) },
      "GET /api/v1/tokens/": { body: page([]) },
      "POST /api/v1/tokens/": { status: 400, body: { name: ["This field may not be blank."] } },
    });
    const user = userEvent.setup();
    renderPage(<TokensPage />, { route: "/tokens", path: "/tokens" });
    await user.click(await screen.findByRole("button", { name: "Create token" }));
    const name = screen.getByLabelText("Token name");
    expect(await within(fieldOf("Token name")).findByText("This field may not be blank.")).toBeInTheDocument();
    await waitFor(() => expect(name).toHaveFocus());

    await user.type(name, "ci");
    expect(within(fieldOf("Token name")).queryByText("This field may not be blank.")).not.toBeInTheDocument();
  });

  it("on a failure that names no field: focuses the message above the form", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page([]) },
      "GET /api/v1/tokens/": { body: page([]) },
      "POST /api/v1/tokens/": { status: 503, body: { detail: "The database is unavailable." } },
    });
    const user = userEvent.setup();
    renderPage(<TokensPage />, { route: "/tokens", path: "/tokens" });
    await user.type(await screen.findByLabelText("Token name"), "ci");
    await user.click(screen.getByRole("button", { name: "Create token" }));
    const message = await screen.findByTestId("form-error");
    await waitFor(() => expect(message).toHaveFocus());
  });
});
