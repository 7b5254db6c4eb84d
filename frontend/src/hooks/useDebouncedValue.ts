import { useEffect, useState } from "react";

/**
 * `value`, once it has stopped changing for `delayMs`. Compare by value: pass a string (or a
 * primitive), not an object rebuilt on every render, or the timer never settles.
 */
export function useDebouncedValue<T>(value: T, delayMs: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delayMs);
    return () => clearTimeout(timer);
  }, [value, delayMs]);
  return settled;
}
