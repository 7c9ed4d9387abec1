import { useState } from 'react';
import type { Conversation } from '../state/db';
import { useChat } from '../state/store';

const rowButton = 'rounded px-1.5 py-0.5 text-xs text-slate-500 hover:bg-slate-200 hover:text-slate-900 dark:hover:bg-slate-700 dark:hover:text-slate-100';

function ConversationRow({ conversation, onOpened }: { conversation: Conversation; onOpened: () => void }) {
  const active = useChat((s) => s.activeId === conversation.id);
  const busy = useChat((s) => s.generating || s.model.phase === 'loading');
  const generating = useChat((s) => s.generating);
  const openConversation = useChat((s) => s.openConversation);
  const renameConversation = useChat((s) => s.renameConversation);
  const deleteConversation = useChat((s) => s.deleteConversation);
  const [renaming, setRenaming] = useState(false);
  const [title, setTitle] = useState(conversation.title);
  const [confirmingDelete, setConfirmingDelete] = useState(false);

  if (renaming) {
    return (
      <li>
        <form
          className="flex gap-1 px-1 py-1"
          onSubmit={(event) => {
            event.preventDefault();
            setRenaming(false);
            void renameConversation(conversation.id, title);
          }}
        >
          <input
            data-testid="rename-input"
            aria-label="Conversation title"
            autoFocus
            value={title}
            onChange={(event) => setTitle(event.target.value)}
            onKeyDown={(event) => event.key === 'Escape' && setRenaming(false)}
            className="min-w-0 flex-1 rounded border border-slate-300 bg-white px-2 py-0.5 text-sm dark:border-slate-600 dark:bg-slate-800"
          />
          <button type="submit" className={rowButton}>
            Save
          </button>
        </form>
      </li>
    );
  }

  return (
    <li
      data-testid="conversation"
      data-active={active}
      className={`group flex items-center gap-1 rounded-md px-1 ${active ? 'bg-teal-100 dark:bg-teal-900/50' : 'hover:bg-slate-100 dark:hover:bg-slate-800'}`}
    >
      <button
        type="button"
        disabled={busy && !active}
        aria-current={active ? 'true' : undefined}
        onClick={() => {
          void openConversation(conversation.id);
          onOpened();
        }}
        className="min-w-0 flex-1 truncate py-1.5 pl-1 text-left text-sm disabled:opacity-50"
        title={conversation.title}
      >
        {conversation.title}
      </button>
      {confirmingDelete ? (
        <>
          <button type="button" data-testid="confirm-delete" onClick={() => void deleteConversation(conversation.id)} className={`${rowButton} text-red-700 dark:text-red-400`}>
            Delete
          </button>
          <button type="button" onClick={() => setConfirmingDelete(false)} className={rowButton}>
            Keep
          </button>
        </>
      ) : (
        <>
          <button
            type="button"
            aria-label={`Rename “${conversation.title}”`}
            onClick={() => {
              setTitle(conversation.title);
              setRenaming(true);
            }}
            className={rowButton}
          >
            Rename
          </button>
          <button
            type="button"
            aria-label={`Delete “${conversation.title}”`}
            disabled={generating && active}
            onClick={() => setConfirmingDelete(true)}
            className={`${rowButton} disabled:opacity-40`}
          >
            Delete
          </button>
        </>
      )}
    </li>
  );
}

/** The saved conversations: new, search, open, rename, delete. `onOpened` closes it on a phone. */
export function Sidebar({ onOpened }: { onOpened: () => void }) {
  const conversations = useChat((s) => s.conversations);
  const searchHits = useChat((s) => s.searchHits);
  const generating = useChat((s) => s.generating);
  const newConversation = useChat((s) => s.newConversation);
  const search = useChat((s) => s.search);
  const [query, setQuery] = useState('');
  const shown = searchHits ? conversations.filter((c) => searchHits.has(c.id)) : conversations;

  return (
    <nav aria-label="Conversations" className="flex h-full flex-col gap-2 p-3">
      <button
        data-testid="new-conversation"
        type="button"
        disabled={generating}
        onClick={() => {
          newConversation();
          onOpened();
        }}
        className="rounded-lg bg-teal-700 px-3 py-2 text-sm font-medium text-white hover:bg-teal-800 disabled:opacity-50"
      >
        New chat
      </button>
      <input
        data-testid="conversation-search"
        type="search"
        aria-label="Search conversations"
        placeholder="Search conversations"
        value={query}
        onChange={(event) => {
          setQuery(event.target.value);
          void search(event.target.value);
        }}
        className="rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-600 dark:bg-slate-800"
      />
      <ul className="flex min-h-0 flex-1 flex-col gap-0.5 overflow-y-auto">
        {shown.map((conversation) => (
          <ConversationRow key={conversation.id} conversation={conversation} onOpened={onOpened} />
        ))}
        {shown.length === 0 && (
          <li className="px-1 py-2 text-sm text-slate-500 dark:text-slate-400">{searchHits ? 'No conversation matches.' : 'No saved conversations yet.'}</li>
        )}
      </ul>
    </nav>
  );
}
