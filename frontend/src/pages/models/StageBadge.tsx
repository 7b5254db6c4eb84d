import type { ModelStage } from "../../api/models";

const LABELS: Record<ModelStage, string> = {
  none: "no stage",
  staging: "staging",
  production: "production",
  archived: "archived",
};

/** A model version's stage: none, staging, production or archived. */
export function StageBadge({ stage }: { stage: ModelStage }) {
  return (
    <span className={`badge badge-stage-${stage}`} data-stage={stage} data-testid="stage">
      {LABELS[stage] ?? stage}
    </span>
  );
}
