import { describe, expect, it } from 'vitest';
import { StopStringFilter } from './stops';

function feed(stops: string[], pieces: string[]): { shown: string; stopped: boolean } {
  const filter = new StopStringFilter(stops);
  let shown = '';
  for (const piece of pieces) {
    shown += filter.push(piece);
    if (filter.stopped) break;
  }
  return { shown: shown + filter.flush(), stopped: filter.stopped };
}

describe('StopStringFilter', () => {
  it('cuts the text at a stop string split across pieces', () => {
    expect(feed(['<|im_end|>'], ['Hello', ' wor', 'ld<|im', '_en', 'd|>more'])).toEqual({ shown: 'Hello world', stopped: true });
  });

  it('holds back a possible stop prefix, then releases it when it turns out not to be one', () => {
    const filter = new StopStringFilter(['</s>']);
    expect(filter.push('a</')).toBe('a');
    expect(filter.push('b')).toBe('</b');
    expect(filter.stopped).toBe(false);
  });

  it('stops at the earliest of several stop strings', () => {
    expect(feed(['STOP', 'END'], ['one END two STOP'])).toEqual({ shown: 'one ', stopped: true });
  });

  it('flushes held text when generation ends for another reason', () => {
    expect(feed(['<|eot_id|>'], ['text <|eot'])).toEqual({ shown: 'text <|eot', stopped: false });
  });

  it('passes everything through without stop strings', () => {
    expect(feed([], ['a', 'b'])).toEqual({ shown: 'ab', stopped: false });
  });
});
