import { useEffect, useState } from 'react';
import { useChat } from '../state/store';

/** The message box: Enter sends, Shift+Enter adds a line; Stop (or Esc, anywhere on the page) ends the reply being streamed. */
export function Composer() {
  const [text, setText] = useState('');
  const ready = useChat((s) => s.model.phase === 'ready');
  const generating = useChat((s) => s.generating);
  const send = useChat((s) => s.send);
  const stop = useChat((s) => s.stop);
  const canSend = ready && !generating && text.trim() !== '';

  useEffect(() => {
    if (!generating) return;
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.key === 'Escape') stop();
    };
    document.addEventListener('keydown', onKeyDown);
    return () => document.removeEventListener('keydown', onKeyDown);
  }, [generating, stop]);

  const submit = () => {
    if (!canSend) return;
    setText('');
    void send(text);
  };

  return (
    <form
      className="flex items-end gap-2"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      <textarea
        data-testid="message-input"
        aria-label="Message"
        rows={2}
        value={text}
        placeholder={ready ? 'Message (Enter sends, Shift+Enter for a new line, Esc stops)' : 'Load a model first'}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={(event) => {
          if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
            event.preventDefault();
            submit();
          }
        }}
        className="min-h-12 min-w-0 flex-1 resize-y rounded-lg border border-slate-300 bg-white px-3 py-2 dark:border-slate-600 dark:bg-slate-900"
      />
      {generating && (
        <button
          data-testid="stop-button"
          type="button"
          onClick={stop}
          aria-keyshortcuts="Escape"
          className="rounded-lg bg-slate-700 px-4 py-2 font-medium text-white hover:bg-slate-800 dark:bg-slate-600 dark:hover:bg-slate-500"
        >
          Stop
        </button>
      )}
      <button
        data-testid="send-button"
        type="submit"
        disabled={!canSend}
        className="rounded-lg bg-teal-700 px-4 py-2 font-medium text-white hover:bg-teal-800 disabled:opacity-50"
      >
        Send
      </button>
    </form>
  );
}
