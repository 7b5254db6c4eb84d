import { describe, expect, it } from "vitest";
import { JOB_FORM_FIELDS } from "../pages/JobNewPage";
import { assignErrors, flattenErrors } from "./fieldErrors";

describe("flattenErrors", () => {
  it("flattens nested DRF errors into dotted paths", () => {
    expect(
      flattenErrors({
        name: ["This field is required."],
        resources: { gpus: ["Ensure this value is greater than or equal to 0."] },
        runtime_env: { pip: { "1": ["Not a valid string."] }, env_vars: { "BAD KEY": ["Invalid name."] } },
        non_field_errors: ["Quota exceeded."],
      }),
    ).toEqual({
      name: ["This field is required."],
      "resources.gpus": ["Ensure this value is greater than or equal to 0."],
      "runtime_env.pip.1": ["Not a valid string."],
      "runtime_env.env_vars.BAD KEY": ["Invalid name."],
      "": ["Quota exceeded."],
    });
  });

  it("handles list-serializer errors, nested non_field_errors, detail and bare strings", () => {
    expect(flattenErrors({ items: [{}, { x: ["bad"] }], resources: { non_field_errors: ["too big"] } })).toEqual({
      "items.1.x": ["bad"],
      resources: ["too big"],
    });
    expect(flattenErrors({ detail: "Team is over quota." })).toEqual({ "": ["Team is over quota."] });
    expect(flattenErrors(["Just a message."])).toEqual({ "": ["Just a message."] });
  });
});

describe("assignErrors", () => {
  it("gives each form field its own and nested messages, the rest to general", () => {
    const { fields, general } = assignErrors(
      {
        name: ["This field is required."],
        resources: { gpus: ["Ensure this value is greater than or equal to 0."], non_field_errors: ["Too much."] },
        runtime_env: { pip: { "0": ["Not a valid string."] } },
        state: ["Read-only."],
        non_field_errors: ["Quota exceeded."],
      },
      JOB_FORM_FIELDS,
    );
    expect(fields).toEqual({
      name: ["This field is required."],
      "resources.gpus": ["Ensure this value is greater than or equal to 0."],
      resources: ["Too much."],
      "runtime_env.pip": ["0: Not a valid string."],
    });
    expect(general).toEqual(["state: Read-only.", "Quota exceeded."]);
  });

  it("puts everything in general when no field matches", () => {
    expect(assignErrors({ detail: "Nope." }, ["name"])).toEqual({ fields: {}, general: ["Nope."] });
  });
});
