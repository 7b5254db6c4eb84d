import { Link, useSearchParams } from "react-router";
import { useJob, useTeams } from "../api/queries";
import { ErrorState, Loading } from "../components/Status";
import { CommandForm } from "./job-new/CommandForm";
import { formValuesFromJob } from "./job-new/fromJob";
import { TemplateForm } from "./job-new/TemplateForm";

export {
  JOB_FORM_FIELDS,
  PLAN_FORM_FIELDS,
  acceleratorModels,
  buildJobRequest,
  type FieldErrors,
  type JobFormValues,
} from "./job-new/jobRequest";

/** What the form submits: a command the user writes, or a template (its slug in ?template=). */
const CHOICES = [
  { value: "", label: "Command" },
  { value: "lora", label: "Template: LoRA fine-tuning" },
] as const;

export function JobNewPage() {
  const teams = useTeams();
  const [search, setSearch] = useSearchParams();
  const template = CHOICES.find((c) => c.value === search.get("template"))?.value ?? "";
  // "Clone / re-run": ?from=<id> fills the command form in from that job.
  const from = Number(search.get("from") ?? "");
  const cloneId = Number.isInteger(from) && from > 0 ? from : 0;
  const source = useJob(cloneId, { enabled: cloneId > 0 && !template });

  const choose = (value: string) =>
    setSearch(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (value) next.set("template", value);
        else next.delete("template");
        return next;
      },
      { replace: true },
    );

  let body;
  if (teams.isPending) body = <Loading label="Loading teams…" />;
  else if (teams.isError) {
    body = <ErrorState error={teams.error} title="Could not load your teams" onRetry={() => void teams.refetch()} />;
  } else if (teams.data.length === 0) {
    body = <div className="status status-empty">You are not a member of any team yet; ask an admin to add you to one.</div>;
  } else {
    body = (
      <>
        <fieldset className="choice" data-testid="job-source">
          <legend>Submit</legend>
          {CHOICES.map((c) => (
            <label key={c.value} className="checkbox">
              <input
                type="radio"
                name="job_source"
                value={c.value}
                checked={template === c.value}
                onChange={() => choose(c.value)}
              />{" "}
              {c.label}
            </label>
          ))}
        </fieldset>
        {template ? (
          <TemplateForm teams={teams.data} slug={template} />
        ) : cloneId === 0 ? (
          <CommandForm teams={teams.data} />
        ) : source.isPending ? (
          <Loading label={`Loading job #${cloneId}…`} />
        ) : source.isError ? (
          <ErrorState error={source.error} title={`Could not load job #${cloneId} to clone`} onRetry={() => void source.refetch()} />
        ) : (
          <>
            <p className="muted" data-testid="cloned-from">
              Filled in from job <Link to={`/jobs/${cloneId}`}>#{cloneId}</Link> ({source.data.name}); change anything, then submit a new
              job.
            </p>
            <CommandForm key={cloneId} teams={teams.data} initial={formValuesFromJob(source.data)} />
          </>
        )}
      </>
    );
  }
  return (
    <section>
      <h1>Submit job</h1>
      {body}
    </section>
  );
}
