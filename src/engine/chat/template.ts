// Prompt formatting from MLC's conv_template (mlc-chat-config.json), with web-llm's semantics:
// the system block, then each message as role + role_content_sep + content + sep (seps cycling by
// message index), then the assistant role + role_empty_sep to open the reply.
import type { ChatMessage } from '../api';
import type { ConvTemplate } from '../model/types';

export interface Prompt {
  /** Token ids to put before the text (e.g. <|begin_of_text|>). */
  prefixTokenIds: number[];
  text: string;
}

export function formatPrompt(template: ConvTemplate, messages: ChatMessage[]): Prompt {
  const systemMessages = messages.filter((m) => m.role === 'system');
  const turns = messages.filter((m) => m.role !== 'system');
  if (turns.length === 0 || turns[turns.length - 1].role !== 'user') {
    throw new Error('the last message of a chat request must come from the user');
  }
  const systemMessage = systemMessages.length > 0 ? systemMessages.map((m) => m.content).join('\n') : template.system_message;
  const parts: string[] = [];
  const system = template.system_template.replace('{system_message}', systemMessage);
  if (system) parts.push(system);
  turns.forEach((message, i) => {
    const roleName = template.roles[message.role];
    if (roleName === undefined) throw new Error(`the conversation template has no role "${message.role}"`);
    const content = applyRoleTemplate(template, message);
    const sep = template.seps[i % template.seps.length];
    const bare = i === 0 && system !== '' && template.add_role_after_system_message === false;
    parts.push(bare ? content + sep : roleName + (template.role_content_sep ?? '') + content + sep);
  });
  parts.push(template.roles.assistant + (template.role_empty_sep ?? ''));
  return { prefixTokenIds: template.system_prefix_token_ids ?? [], text: parts.join('') };
}

function applyRoleTemplate(template: ConvTemplate, message: ChatMessage): string {
  const roleTemplate = template.role_templates?.[message.role];
  return roleTemplate ? roleTemplate.replace(`{${message.role}_message}`, message.content) : message.content;
}
