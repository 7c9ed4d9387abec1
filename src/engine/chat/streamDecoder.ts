// Incremental detokenization for streaming replies.

export interface TextCodec {
  encode(text: string): number[];
  decode(ids: number[]): string;
}

/** Turns a growing token list into text deltas, holding back bytes of an incomplete UTF-8 character
 *  (decoded as U+FFFD) until the token that completes it arrives. Decodes only a short window. */
export class StreamDecoder {
  private readonly tokens: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly codec: TextCodec) {}

  push(token: number): string {
    this.tokens.push(token);
    const prefix = this.codec.decode(this.tokens.slice(this.prefixOffset, this.readOffset));
    const full = this.codec.decode(this.tokens.slice(this.prefixOffset));
    if (full.length <= prefix.length || full.endsWith('\uFFFD')) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.tokens.length;
    return full.slice(prefix.length);
  }
}
