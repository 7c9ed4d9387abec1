import { useChat } from '../state/store';

export function ErrorPanel() {
  const error = useChat((s) => s.error);
  const dismissError = useChat((s) => s.dismissError);
  if (!error) return null;
  return (
    <section data-testid="error" data-code={error.code} role="alert" className="flex gap-3 rounded-lg border border-red-300 bg-red-50 p-3 text-sm">
      <div className="flex-1">
        <p className="font-medium text-red-900">{error.message}</p>
        <p className="mt-1 text-red-800">{error.hint}</p>
      </div>
      <button type="button" onClick={dismissError} className="self-start text-red-700 hover:text-red-900" aria-label="Dismiss error">
        ✕
      </button>
    </section>
  );
}
