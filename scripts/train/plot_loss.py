"""Draws the loss curve of a training run as a PNG with the standard library only (no matplotlib here).

    python3 scripts/train/plot_loss.py <ckpt.json> <out.png>

x: tokens seen (0 .. end of run); y: loss (0 .. 6 nats, grid line every nat). Blue: training loss
(every 50 steps), red: held-out loss (about once a minute, dots), green vertical line: the step
whose weights were exported.
"""
import json
import struct
import sys
import zlib

WIDTH, HEIGHT, MARGIN, Y_MAX = 800, 400, 30, 6.0
BLUE, RED, GREEN, GREY, BLACK = (40, 90, 200), (210, 40, 40), (30, 150, 60), (220, 220, 220), (0, 0, 0)


def main():
    meta = json.load(open(sys.argv[1]))
    log = meta['log']
    max_tokens = log[-1]['tokens']
    pixels = [[(255, 255, 255)] * WIDTH for _ in range(HEIGHT)]

    def to_xy(tokens, loss):
        x = MARGIN + round((WIDTH - 2 * MARGIN) * tokens / max_tokens)
        y = HEIGHT - MARGIN - round((HEIGHT - 2 * MARGIN) * min(loss, Y_MAX) / Y_MAX)
        return x, y

    def dot(x, y, color, r=0):
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                if 0 <= x + dx < WIDTH and 0 <= y + dy < HEIGHT:
                    pixels[y + dy][x + dx] = color

    def line(a, b, color):
        steps = max(abs(b[0] - a[0]), abs(b[1] - a[1]), 1)
        for i in range(steps + 1):
            dot(round(a[0] + (b[0] - a[0]) * i / steps), round(a[1] + (b[1] - a[1]) * i / steps), color)

    for nats in range(int(Y_MAX) + 1):
        line(to_xy(0, nats), to_xy(max_tokens, nats), GREY)
    line(to_xy(0, 0), to_xy(max_tokens, 0), BLACK)
    line(to_xy(0, 0), to_xy(0, Y_MAX), BLACK)
    exported = next((r for r in log if r['step'] == meta.get('exported_step')), None)
    if exported:
        line(to_xy(exported['tokens'], 0), to_xy(exported['tokens'], Y_MAX), GREEN)
    train = [to_xy(r['tokens'], r['train_loss']) for r in log]
    for a, b in zip(train, train[1:]):
        line(a, b, BLUE)
    evals = [to_xy(r['tokens'], r['eval_loss']) for r in log if 'eval_loss' in r]
    for a, b in zip(evals, evals[1:]):
        line(a, b, RED)
    for p in evals:
        dot(*p, RED, r=3)

    raw = b''.join(b'\x00' + bytes(c for px in row for c in px) for row in pixels)
    chunk = lambda kind, data: struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', WIDTH, HEIGHT, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')
    open(sys.argv[2], 'wb').write(png)


if __name__ == '__main__':
    main()
