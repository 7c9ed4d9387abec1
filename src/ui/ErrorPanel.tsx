import type { WorkerError } from '../worker/protocol';
import { useChat } from '../state/store';

interface NextStep {
  label: string;
  run: () => void;
}

/** The one action that most often fixes a failure, next to its hint. */
function useNextStep(error: WorkerError): NextStep | null {
  const restartEngine = useChat((s) => s.restartEngine);
  const loadModel = useChat((s) => s.loadModel);
  const newConversation = useChat((s) => s.newConversation);
  switch (error.code) {
    case 'device-lost':
    case 'internal':
      // A fresh worker gets a fresh GPU device; the conversation is in IndexedDB and stays.
      return { label: 'Restart engine', run: () => void restartEngine() };
    case 'model-fetch':
    case 'model-corrupt':
    case 'quota-exceeded':
      return { label: 'Load again', run: () => void loadModel() };
    case 'context-full':
      return { label: 'New chat', run: newConversation };
    default:
      return null;
  }
}

export function ErrorPanel() {
  const error = useChat((s) => s.error);
  if (!error) return null;
  return <ErrorBox error={error} />;
}

function ErrorBox({ error }: { error: WorkerError }) {
  const dismissError = useChat((s) => s.dismissError);
  const nextStep = useNextStep(error);
  return (
    <section
      data-testid="error"
      data-code={error.code}
      role="alert"
      className="flex gap-3 rounded-lg border border-red-300 bg-red-50 p-3 text-sm dark:border-red-800 dark:bg-red-950"
    >
      <div className="flex-1">
        <p className="font-medium text-red-900 dark:text-red-200">{error.message}</p>
        <p className="mt-1 text-red-800 dark:text-red-300">{error.hint}</p>
        {error.code === 'quota-exceeded' && (
          <p className="mt-1 text-red-800 dark:text-red-300">Cached models are listed under “Available offline”, with a Delete button each.</p>
        )}
        {nextStep && (
          <button
            data-testid="error-action"
            type="button"
            onClick={() => {
              dismissError();
              nextStep.run();
            }}
            className="mt-2 rounded bg-red-700 px-3 py-1 font-medium text-white hover:bg-red-800"
          >
            {nextStep.label}
          </button>
        )}
      </div>
      <button type="button" onClick={dismissError} className="self-start text-red-700 hover:text-red-900 dark:text-red-300" aria-label="Dismiss error">
        ✕
      </button>
    </section>
  );
}
