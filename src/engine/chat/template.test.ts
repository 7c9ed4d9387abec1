import { describe, expect, it } from 'vitest';
import type { ConvTemplate } from '../model/types';
import { formatPrompt } from './template';

// The two templates kvchat's fixtures use, as mlc-llm defines them (token ids are the fixture's).
const llama3: ConvTemplate = {
  name: 'llama-3',
  system_template: '<|start_header_id|>system<|end_header_id|>\n\n{system_message}<|eot_id|>',
  system_message: 'You are a helpful assistant.',
  roles: { user: '<|start_header_id|>user', assistant: '<|start_header_id|>assistant' },
  seps: ['<|eot_id|>'],
  role_content_sep: '<|end_header_id|>\n\n',
  role_empty_sep: '<|end_header_id|>\n\n',
  stop_str: ['<|end_of_text|>', '<|eot_id|>'],
  stop_token_ids: [1, 4],
  system_prefix_token_ids: [0],
};

const chatml: ConvTemplate = {
  name: 'chatml',
  system_template: '<|im_start|>system\n{system_message}<|im_end|>\n',
  system_message: 'You are Qwen.',
  roles: { user: '<|im_start|>user', assistant: '<|im_start|>assistant' },
  seps: ['<|im_end|>\n'],
  role_content_sep: '\n',
  role_empty_sep: '\n',
  stop_str: ['<|im_end|>'],
  stop_token_ids: [2],
};

describe('formatPrompt', () => {
  it('renders a Llama-3 multi-turn conversation and opens the assistant turn', () => {
    const prompt = formatPrompt(llama3, [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'How are you?' },
    ]);
    expect(prompt.prefixTokenIds).toEqual([0]);
    expect(prompt.text).toBe(
      '<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('uses a system message from the request in place of the default', () => {
    const prompt = formatPrompt(chatml, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(prompt.prefixTokenIds).toEqual([]);
    expect(prompt.text).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('cycles separators by message index and honours role templates', () => {
    const llama2Like: ConvTemplate = {
      ...chatml,
      system_template: '[SYS]{system_message}[/SYS]',
      seps: [' ', '</s>'],
      role_templates: { user: '<<{user_message}>>' },
    };
    const prompt = formatPrompt(llama2Like, [
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'user', content: 'c' },
    ]);
    expect(prompt.text).toBe(
      '[SYS]You are Qwen.[/SYS]<|im_start|>user\n<<a>> <|im_start|>assistant\nb</s><|im_start|>user\n<<c>> <|im_start|>assistant\n',
    );
  });

  it('omits the first role name when add_role_after_system_message is false', () => {
    const prompt = formatPrompt({ ...chatml, add_role_after_system_message: false }, [{ role: 'user', content: 'Hi' }]);
    expect(prompt.text).toBe('<|im_start|>system\nYou are Qwen.<|im_end|>\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('rejects a conversation that does not end with the user', () => {
    expect(() => formatPrompt(chatml, [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }])).toThrow(/last message/);
  });
});
