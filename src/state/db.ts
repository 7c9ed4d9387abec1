// Conversations and their messages in IndexedDB (through Dexie), so a reload or a crashed tab keeps
// everything up to the last saved token. The chat store talks to the ConversationRepository
// interface; tests run the same Dexie code on fake-indexeddb.
import { Dexie, type EntityTable } from 'dexie';
import type { KvSettings } from '../engine/api';
import type { GenerationSettings, TranscriptMessage } from './chat';

export interface Conversation {
  id: string;
  title: string;
  createdAt: number;
  /** Bumped by every saved message, so the sidebar lists the latest conversation first. */
  updatedAt: number;
  /** The model the conversation was last used with, and its settings: restored when it is opened. */
  modelUrl: string;
  settings: GenerationSettings;
  kvSettings: KvSettings;
}

/** A message row: the transcript message, its conversation, and its place in the transcript. */
interface MessageRow extends TranscriptMessage {
  conversationId: string;
  position: number;
}

export interface ConversationRepository {
  /** Every conversation, the most recently updated first. */
  listConversations(): Promise<Conversation[]>;
  putConversation(conversation: Conversation): Promise<void>;
  /** Deletes the conversation and all its messages. */
  deleteConversation(id: string): Promise<void>;
  /** The transcript in order. */
  loadMessages(conversationId: string): Promise<TranscriptMessage[]>;
  /** Writes the message at `position` in the transcript (insert or overwrite). */
  putMessage(conversationId: string, position: number, message: TranscriptMessage): Promise<void>;
  /** Drops the messages at `position` and after (regenerate, edit-and-resend). */
  truncateMessages(conversationId: string, position: number): Promise<void>;
  /** Ids of the conversations whose title or any message contains `query` (case-insensitive). */
  searchConversations(query: string): Promise<Set<string>>;
}

type KvchatDb = Dexie & {
  conversations: EntityTable<Conversation, 'id'>;
  messages: EntityTable<MessageRow, 'id'>;
};

export const DATABASE_NAME = 'kvchat';

export function openDatabase(name = DATABASE_NAME): KvchatDb {
  const db = new Dexie(name) as KvchatDb;
  db.version(1).stores({
    conversations: 'id, updatedAt',
    messages: 'id, conversationId, [conversationId+position]',
  });
  return db;
}

export function dexieRepository(db: KvchatDb = openDatabase()): ConversationRepository {
  const messagesOf = (conversationId: string) =>
    db.messages.where('[conversationId+position]').between([conversationId, Dexie.minKey], [conversationId, Dexie.maxKey]);

  return {
    async listConversations() {
      return db.conversations.orderBy('updatedAt').reverse().toArray();
    },

    async putConversation(conversation) {
      await db.conversations.put(conversation);
    },

    async deleteConversation(id) {
      await db.transaction('rw', db.conversations, db.messages, async () => {
        await db.messages.where('conversationId').equals(id).delete();
        await db.conversations.delete(id);
      });
    },

    async loadMessages(conversationId) {
      const rows = await messagesOf(conversationId).toArray();
      return rows.map(({ conversationId: _, position: __, ...message }) => message);
    },

    async putMessage(conversationId, position, message) {
      await db.transaction('rw', db.conversations, db.messages, async () => {
        await db.messages.put({ ...message, conversationId, position });
        await db.conversations.update(conversationId, { updatedAt: Date.now() });
      });
    },

    async truncateMessages(conversationId, position) {
      await db.messages
        .where('[conversationId+position]')
        .between([conversationId, position], [conversationId, Dexie.maxKey], true, true)
        .delete();
    },

    async searchConversations(query) {
      const needle = query.toLowerCase();
      const ids = new Set<string>();
      await db.conversations.each((c) => {
        if (c.title.toLowerCase().includes(needle)) ids.add(c.id);
      });
      await db.messages.each((m) => {
        if (m.content.toLowerCase().includes(needle)) ids.add(m.conversationId);
      });
      return ids;
    },
  };
}
