import { CheckboxField } from "./CheckboxField";

/**
 * Whether the entrypoint runs in a Ray cluster made for the job (head and workers from its
 * resources): on a Kubernetes cluster with KubeRay a RayJob; on a Ray cluster every job already
 * runs under Ray, so it changes nothing there.
 */
export function RayRuntime(props: { checked: boolean; onChange: (checked: boolean) => void; errors: string[] }) {
  return (
    <CheckboxField
      name="runtime_ray"
      label="Run in a Ray cluster of its own"
      hint="On Kubernetes with KubeRay: a RayJob. Jobs on a Ray cluster run under Ray anyway."
      {...props}
    />
  );
}
