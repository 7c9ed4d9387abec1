import { useEffect, useRef } from 'react';
import type { TranscriptMessage } from '../state/chat';
import { useChat } from '../state/store';

function UsageLine({ message }: { message: TranscriptMessage }) {
  const { usage, finishReason } = message;
  if (!usage) return null;
  const ending = finishReason === 'abort' ? ' · stopped' : finishReason === 'length' ? ' · max tokens reached' : '';
  return (
    <p data-testid="usage" className="mt-1 text-xs text-slate-500">
      {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens · {usage.extra.decode_tokens_per_s.toFixed(1)} tok/s decode ·{' '}
      {usage.extra.prefill_tokens_per_s.toFixed(1)} tok/s prefill{ending}
    </p>
  );
}

export function Transcript() {
  const messages = useChat((s) => s.messages);
  const generating = useChat((s) => s.generating);
  const end = useRef<HTMLDivElement>(null);

  useEffect(() => {
    end.current?.scrollIntoView({ block: 'end' });
  }, [messages]);

  return (
    <section aria-label="Conversation" className="flex min-h-0 flex-1 flex-col gap-3 overflow-y-auto rounded-lg border border-slate-200 bg-white p-3">
      {messages.length === 0 && <p className="m-auto text-sm text-slate-400">Load a model, then say something.</p>}
      {messages.map((message, index) => {
        const streaming = generating && message.role === 'assistant' && index === messages.length - 1;
        return (
          <article
            key={message.id}
            data-testid="message"
            data-role={message.role}
            data-streaming={streaming}
            className={message.role === 'user' ? 'ml-12 self-end rounded-lg bg-teal-50 px-3 py-2' : 'mr-12 self-start rounded-lg bg-slate-100 px-3 py-2'}
          >
            <p className="whitespace-pre-wrap break-words">
              <span data-testid="message-text">{message.content}</span>
              {streaming && <span className="ml-0.5 animate-pulse text-slate-400">▍</span>}
            </p>
            <UsageLine message={message} />
          </article>
        );
      })}
      <div ref={end} />
    </section>
  );
}
