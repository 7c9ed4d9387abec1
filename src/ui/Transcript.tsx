import { memo, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { TranscriptMessage } from '../state/chat';
import { useChat } from '../state/store';
import { renderMarkdown } from './markdown';

/** Within this many pixels of the bottom, the transcript follows a streaming reply. */
const FOLLOW_THRESHOLD_PX = 48;

const actionButton =
  'rounded px-1.5 py-0.5 text-xs text-slate-500 hover:bg-slate-200 hover:text-slate-900 disabled:opacity-40 dark:text-slate-400 dark:hover:bg-slate-700 dark:hover:text-slate-100';

function UsageLine({ message }: { message: TranscriptMessage }) {
  const { usage, finishReason } = message;
  if (!usage) return null;
  const ending = finishReason === 'abort' ? ' · stopped' : finishReason === 'length' ? ' · max tokens reached' : '';
  return (
    <p data-testid="usage" className="text-xs text-slate-500 dark:text-slate-400">
      {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens · {usage.extra.decode_tokens_per_s.toFixed(1)} tok/s decode ·{' '}
      {usage.extra.prefill_tokens_per_s.toFixed(1)} tok/s prefill{ending}
    </p>
  );
}

/** Live count and speed of the reply being streamed; the exact usage replaces it at the end. */
function StreamingLine() {
  const progress = useChat((s) => s.streamProgress);
  const seconds = progress ? (progress.lastAt - progress.firstAt) / 1000 : 0;
  return (
    <p data-testid="streaming" className="flex items-center gap-2 text-xs text-slate-500 dark:text-slate-400">
      <span aria-hidden className="animate-pulse">▍</span>
      {progress ? `${progress.chunks} tokens${seconds > 0 ? ` · ${((progress.chunks - 1) / seconds).toFixed(1)} tok/s` : ''}` : 'Reading the conversation…'}
    </p>
  );
}

const Markdown = memo(function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div data-testid="message-text" className="markdown break-words" dangerouslySetInnerHTML={{ __html: html }} />;
});

function CopyButton({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      data-testid="copy-button"
      type="button"
      onClick={() =>
        void navigator.clipboard.writeText(text).then(() => {
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        })
      }
      className={actionButton}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

function EditForm({ message, onDone }: { message: TranscriptMessage; onDone: () => void }) {
  const editAndResend = useChat((s) => s.editAndResend);
  const canSend = useChat((s) => s.model.phase === 'ready' && !s.generating);
  const [text, setText] = useState(message.content);
  const submit = () => {
    if (!canSend || !text.trim()) return;
    onDone();
    void editAndResend(message.id, text);
  };
  return (
    <form
      className="flex flex-col gap-2"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      <textarea
        data-testid="edit-input"
        aria-label="Edit message"
        autoFocus
        rows={3}
        value={text}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={(event) => {
          if (event.key === 'Escape') onDone();
          if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
            event.preventDefault();
            submit();
          }
        }}
        className="w-full min-w-64 rounded border border-slate-300 bg-white px-2 py-1 dark:border-slate-600 dark:bg-slate-800"
      />
      <div className="flex justify-end gap-2">
        <button type="button" onClick={onDone} className={actionButton}>
          Cancel
        </button>
        <button data-testid="edit-send" type="submit" disabled={!canSend} className="rounded bg-teal-700 px-3 py-1 text-sm text-white hover:bg-teal-800 disabled:opacity-50">
          Send
        </button>
      </div>
    </form>
  );
}

function Message({ message, streaming, last }: { message: TranscriptMessage; streaming: boolean; last: boolean }) {
  const idle = useChat((s) => s.model.phase === 'ready' && !s.generating);
  const regenerate = useChat((s) => s.regenerate);
  const [editing, setEditing] = useState(false);
  const user = message.role === 'user';

  return (
    <article
      data-testid="message"
      data-role={message.role}
      data-streaming={streaming}
      aria-label={user ? 'Your message' : 'Reply'}
      className={`flex max-w-[92%] flex-col gap-1 rounded-lg px-3 py-2 sm:max-w-[85%] ${
        user ? 'self-end bg-teal-50 dark:bg-teal-950' : 'self-start bg-slate-100 dark:bg-slate-800'
      }`}
    >
      {editing ? (
        <EditForm message={message} onDone={() => setEditing(false)} />
      ) : user ? (
        <p data-testid="message-text" className="whitespace-pre-wrap break-words">
          {message.content}
        </p>
      ) : (
        <Markdown text={message.content} />
      )}
      {streaming && <StreamingLine />}
      <UsageLine message={message} />
      {!streaming && !editing && (
        <div className="flex gap-1">
          <CopyButton text={message.content} />
          {user && (
            <button data-testid="edit-button" type="button" disabled={!idle} onClick={() => setEditing(true)} className={actionButton}>
              Edit
            </button>
          )}
          {last && (
            <button data-testid="regenerate-button" type="button" disabled={!idle} onClick={() => void regenerate()} className={actionButton}>
              {user ? 'Retry' : 'Regenerate'}
            </button>
          )}
        </div>
      )}
    </article>
  );
}

/** The open conversation. It follows a streaming reply unless the user has scrolled up to read. */
export function Transcript() {
  const messages = useChat((s) => s.messages);
  const generating = useChat((s) => s.generating);
  const scroller = useRef<HTMLElement>(null);
  const shownCount = useRef(0);
  /** The scroll height when the transcript last rendered: where "the bottom" was before new text. */
  const shownHeight = useRef(0);

  // Decided from the scroll position at render time, not from scroll events, which arrive a frame
  // late: a reader who has just scrolled up must not be pulled back down by the next token.
  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const wasAtBottom = element.scrollTop + element.clientHeight >= shownHeight.current - FOLLOW_THRESHOLD_PX;
    // A new message (sent, or another conversation opened) means the reader wants to see the end.
    if (wasAtBottom || messages.length !== shownCount.current) element.scrollTop = element.scrollHeight;
    shownCount.current = messages.length;
    shownHeight.current = element.scrollHeight;
  }, [messages]);

  return (
    <section
      ref={scroller}
      aria-label="Conversation"
      data-testid="transcript"
      className="flex min-h-0 flex-1 flex-col gap-3 overflow-y-auto rounded-lg border border-slate-200 bg-white p-3 dark:border-slate-700 dark:bg-slate-900"
    >
      {messages.length === 0 && <p className="m-auto text-sm text-slate-500 dark:text-slate-400">Load a model, then say something.</p>}
      {messages.map((message, index) => {
        const last = index === messages.length - 1;
        return <Message key={message.id} message={message} streaming={generating && last && message.role === 'assistant'} last={last} />;
      })}
    </section>
  );
}
