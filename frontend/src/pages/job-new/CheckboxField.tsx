/** One checkbox with its hint and the server's errors for it (the submit forms' yes/no fields). */
export function CheckboxField({
  name,
  label,
  hint,
  checked,
  onChange,
  errors,
}: {
  name: string;
  label: string;
  hint: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  errors: string[];
}) {
  return (
    <div className={`field${errors.length ? " field-invalid" : ""}`}>
      <label className="checkbox">
        <input type="checkbox" name={name} checked={checked} onChange={(e) => onChange(e.target.checked)} /> {label}
      </label>
      <small className="hint">{hint}</small>
      {errors.length > 0 && (
        <ul className="field-errors">
          {errors.map((message, i) => (
            <li key={i}>{message}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
