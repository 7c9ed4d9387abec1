"""Builds the kvchat-demo training corpus from Debian packages (no other network needed).

    python3 scripts/train/prep_corpus.py [workDir]      (default scripts/train/.data)

Downloads bible-kjv, bible-kjv-text, jargon-text, dict-gcide, fortunes and fortunes-min with
`apt-get download`, unpacks them with `dpkg -x` under <workDir>/pkg, and writes
<workDir>/corpus/{train,eval}.jsonl.gz: one JSON object per document, {"source": ..., "text": ...}.

Documents:
  kjv        one per book of the King James Bible (public domain), verses as "c:v text" lines
  webster    Webster 1913 entries of GCIDE (only paragraphs tagged [1913 Webster]: public domain)
  jargon     Jargon File 4.4.7 entries (public domain)
  fortune    fortune-mod quotation files, grouped a few dozen per document
  repeat     a passage, other text, then the same passage again: teaches copying from far back
  chat       synthetic conversations rendered in the llama-3 template the demo ships with
             (definition questions, jargon questions, verse look-ups, fortunes, "repeat after me")

Held out for evaluation: the books of Ruth, Esther, Jonah, Titus and Philemon (long documents for
the quality benchmark's 512-2K token contexts) and ~2% of every other source, chosen by a hash of
the document's key so the split is stable. Deterministic: the output depends only on the packages.
"""
import gzip
import hashlib
import json
import os
import random
import re
import subprocess
import sys

PACKAGES = ['bible-kjv', 'bible-kjv-text', 'jargon-text', 'dict-gcide', 'fortunes', 'fortunes-min']
EVAL_BOOKS = {'Ruth', 'Esther', 'Jonah', 'Titus', 'Philemon'}
EVAL_PERCENT = 2

# Must equal the system message of the conv_template in the shipped mlc-chat-config.json
# (scripts/train/convert.mjs), so that the app's prompts look exactly like the training chats.
SYSTEM_MESSAGE = 'You are a helpful assistant.'

POS_NAMES = {
    'n.': 'noun', 'v. t.': 'transitive verb', 'v. i.': 'intransitive verb', 'v.': 'verb',
    'a.': 'adjective', 'adv.': 'adverb', 'prep.': 'preposition', 'conj.': 'conjunction',
    'interj.': 'interjection', 'pron.': 'pronoun', 'p. p.': 'past participle',
    'p. pr.': 'present participle', 'pl.': 'plural noun',
}


def held_out(key):
    return int(hashlib.md5(key.encode()).hexdigest(), 16) % 100 < EVAL_PERCENT


def fetch_packages(work):
    debs = os.path.join(work, 'debs')
    pkg = os.path.join(work, 'pkg')
    os.makedirs(debs, exist_ok=True)
    if not any(name.startswith('dict-gcide') for name in os.listdir(debs)):
        subprocess.run(['apt-get', 'download', *PACKAGES], cwd=debs, check=True)
    for name in sorted(os.listdir(debs)):
        subprocess.run(['dpkg', '-x', os.path.join(debs, name), pkg], check=True)
    return pkg


# ------------------------------------------------------------------------------------------------
# Sources

def kjv_books(pkg):
    """{book: [(chapter, verse, text)]} from the bible program over its compressed data file."""
    out = subprocess.run([os.path.join(pkg, 'usr/bin/bible'), '-p', os.path.join(pkg, 'usr/lib'), 'gen1:1-rev22:21'],
                         check=True, capture_output=True, text=True).stdout
    books = {}
    book = chapter = None
    for line in out.split('\n'):
        heading = re.fullmatch(r'(\S.*?) (\d+)', line)
        verse = re.match(r'\s+(\d+) (.*)', line)
        if heading:
            book, chapter = heading.group(1), int(heading.group(2))
            books.setdefault(book, [])
        elif verse:
            books[book].append([chapter, int(verse.group(1)), verse.group(2)])
        elif line.strip():
            books[book][-1][2] += ' ' + line.strip()  # wrapped continuation of the last verse
    return books


def clean_webster(text):
    text = re.sub(r'\[(?:[^\[\]]|\[[^\]]*\])*\]', '', text)  # etymologies, [Obs.], [1913 Webster]
    text = re.sub(r'--\s?[A-Z][\w. ]*?\.(?=\s|$)', '', text)  # citations: --Bacon.
    text = re.sub(r'[{}]', '', text)
    text = text.replace('*', '').replace('"', '').replace('`', '')
    return re.sub(r'\s+', ' ', text).strip()


def webster_entries(pkg):
    """[(headword, pos, [senses])] of entries whose definition paragraphs come from Webster 1913."""
    with gzip.open(os.path.join(pkg, 'usr/share/dictd/gcide.dict.dz'), 'rt', encoding='utf-8', errors='replace') as f:
        raw = f.read()
    entries = []
    for block in re.split(r'\n\n(?=[A-Z][^\n]*\\[^\n]*\\)', raw):
        head = re.match(r'([^\\\n]+?) \\[^\\]*\\,?\s*([^\[\n]*)', block)
        if not head:
            continue
        word = head.group(1).strip()
        if not re.fullmatch(r"[A-Za-z][A-Za-z' -]{1,30}", word):
            continue
        pos_text = head.group(2).strip().rstrip(',;')
        pos = next((name for abbr, name in POS_NAMES.items() if pos_text.startswith(abbr)), None)
        body = block[head.end():]
        senses = []
        for paragraph in re.split(r'\n\s*\n', body):
            if '[1913 Webster]' not in paragraph or re.search(r'\[(PJC|WordNet|Century|RN|Chambers)', paragraph):
                continue
            if re.match(r'\s{8,}', paragraph):  # indented quotation, not a definition
                continue
            sense = re.sub(r'^\d+\.\s*', '', clean_webster(paragraph))  # sense numbers
            sense = re.sub(r'^\([^)]*\)\s*', '', sense)  # (Anat.) field labels
            if 12 <= len(sense) <= 400 and not sense.startswith('See '):
                senses.append(sense)
        if senses and pos:
            entries.append((word, pos, senses))
    return entries


def jargon_entries(pkg):
    """[(term, text)] from the Jargon File's glossary."""
    with gzip.open(os.path.join(pkg, 'usr/share/doc/jargon-text/jargon.txt.gz'), 'rt', encoding='utf-8') as f:
        lines = f.read().split('\n')
    entries = []
    term, body = None, []
    for line in lines:
        head = re.match(r'   :(.+?):\s*(.*)$', line)
        if head or line.startswith('Appendix A.'):
            if term and body:
                entries.append((term, '\n'.join(body).strip()))
            term, body = (head.group(1), []) if head else (None, [])
        elif term is not None:
            body.append(line[3:] if line.startswith('   ') else line)
    entries = [(t, re.sub(r'[{}]', '', b).replace('‘', "'").replace('’', "'")) for t, b in entries]
    return [(t, b) for t, b in entries if len(b) > 40]


def fortunes(pkg):
    """[(file name, [quotation])], offensive files excluded (fortunes-off is not fetched)."""
    folder = os.path.join(pkg, 'usr/share/games/fortunes')
    out = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if '.' in name or os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, encoding='utf-8', errors='replace') as f:
            quotes = [q.strip('\n') for q in f.read().split('\n%\n') if q.strip()]
        out.append((name, quotes))
    return out


# ------------------------------------------------------------------------------------------------
# Documents

def chat(turns):
    """The llama-3 template as the app renders it, minus <|begin_of_text|> (the trainer adds it)."""
    text = f'<|start_header_id|>system<|end_header_id|>\n\n{SYSTEM_MESSAGE}<|eot_id|>'
    for question, answer in turns:
        text += f'<|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|>'
        text += f'<|start_header_id|>assistant<|end_header_id|>\n\n{answer}<|eot_id|>'
    return text


def definition_turn(rng, word, pos, senses):
    w = word if word.isupper() else word.lower()
    article = 'an' if w[0] in 'aeiou' else 'a'
    question = rng.choice([
        f'What does {w} mean?', f'What does "{w}" mean?', f'What is the meaning of {w}?', f'Define {w}.',
        f'define {w}', f'Can you tell me what {w} means?', f'What does the word {w} mean?',
        *([f'What is {article} {w}?'] * (pos == 'noun')),
    ])
    shown = senses[:2]
    if len(shown) == 1:
        answer = f'{word} ({pos}): {shown[0]}'
    else:
        answer = f'{word} ({pos}) has more than one sense:\n' + '\n'.join(f'{i + 1}. {s}' for i, s in enumerate(shown))
    return question, answer


def build(pkg):
    rng = random.Random(7)
    train, evaluation = [], []

    def add(source, key, text, force_eval=False):
        (evaluation if force_eval or held_out(f'{source}:{key}') else train).append({'source': source, 'text': text})

    books = kjv_books(pkg)
    verses = []
    for book, rows in books.items():
        add('kjv', book, f'{book}\n\n' + '\n'.join(f'{c}:{v} {t}' for c, v, t in rows), force_eval=book in EVAL_BOOKS)
        if book not in EVAL_BOOKS:
            verses += [(book, c, v, t) for c, v, t in rows]

    webster = webster_entries(pkg)
    for i in range(0, len(webster), 40):
        group = webster[i:i + 40]
        text = '\n\n'.join(f'{w} ({p}).\n' + '\n'.join(f'{k + 1}. {s}' if len(ss) > 1 else s for k, s in enumerate(ss)) for w, p, ss in group for ss in [ss[:4]])
        add('webster', group[0][0] + str(i), text)

    jargon = jargon_entries(pkg)
    for i in range(0, len(jargon), 12):
        group = jargon[i:i + 12]
        add('jargon', group[0][0], '\n\n'.join(f'{t}\n{b}' for t, b in group))

    quotes = []
    for name, qs in fortunes(pkg):
        for i in range(0, len(qs), 30):
            add('fortune', f'{name}{i}', '\n%\n'.join(qs[i:i + 30]))
        quotes += qs

    # Repetition: passage, 1-6K characters of unrelated text, the passage again.
    plain = [d['text'] for d in train if d['source'] != 'kjv'] + ['\n'.join(f'{c}:{v} {t}' for _, c, v, t in verses[i:i + 40]) for i in range(0, len(verses), 40)]
    for i in range(4000):
        passage_source = rng.choice(plain)
        start = rng.randrange(max(1, len(passage_source) - 600))
        passage = passage_source[start:start + rng.randint(150, 600)]
        filler = rng.choice(plain)
        f_start = rng.randrange(max(1, len(filler) - 6000))
        gap = filler[f_start:f_start + rng.randint(1000, 6000)]
        add('repeat', str(i), f'{passage}\n\n{gap}\n\n{passage}')

    # Synthetic chats: 1-3 turns each.
    useful = [e for e in webster if e[0][0].isupper() and e[0][1:].islower() or e[0].islower()]
    for i in range(45000):
        kind = rng.random()
        turns = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            if kind < 0.7:
                turns.append(definition_turn(rng, *rng.choice(useful)))
            elif kind < 0.8:
                term, body = rng.choice(jargon)
                first = body.split('\n\n')[0].strip()
                first = re.sub(r'^[^\n]*?\b(n|adj|v|vt|vi|adv|interj)\.\s*', '', first) if first.count('\n') == 0 else first
                turns.append((rng.choice([f'What is {term}?', f'What does {term} mean in hacker slang?', f'Explain {term}.']), re.sub(r'\s+', ' ', first)))
            elif kind < 0.88:
                book, c, v, t = rng.choice(verses)
                turns.append((rng.choice([f'Quote {book} {c}:{v}.', f'What does {book} {c}:{v} say?', f'Recite {book} chapter {c}, verse {v}.']), t))
            elif kind < 0.95:
                q = rng.choice(quotes)
                turns.append((rng.choice(['Tell me a fortune.', 'Say something wise.', 'Give me a quotation.', 'Tell me something funny.', 'Hello!']), q))
            else:
                src = rng.choice(plain)
                s = rng.randrange(max(1, len(src) - 300))
                phrase = re.sub(r'\s+', ' ', src[s:s + rng.randint(20, 300)]).strip()
                turns.append((f'Repeat after me: {phrase}', phrase))
        add('chat', str(i), chat(turns))
    return train, evaluation


def write(path, docs):
    with gzip.open(path, 'wt', encoding='utf-8', compresslevel=9) as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + '\n')


def main():
    root = os.path.dirname(os.path.abspath(__file__))
    work = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, '.data'))
    pkg = fetch_packages(work)
    train, evaluation = build(pkg)
    out = os.path.join(work, 'corpus')
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, 'train.jsonl.gz'), train)
    write(os.path.join(out, 'eval.jsonl.gz'), evaluation)
    for name, docs in (('train', train), ('eval', evaluation)):
        by_source = {}
        for d in docs:
            n, c = by_source.get(d['source'], (0, 0))
            by_source[d['source']] = (n + 1, c + len(d['text']))
        print(name, {s: f'{n} docs, {c / 1e6:.2f} MB' for s, (n, c) in sorted(by_source.items())})


if __name__ == '__main__':
    main()
