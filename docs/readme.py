"""README.md from nbs/index.ipynb: its Markdown cells, with paths made relative to the repository's root.
`python docs/readme.py` writes it; the tests check that README.md is what it would write."""
import json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme() -> str:
    "The README's text: the index notebook's Markdown cells, images and notebook links pointing into nbs/."
    cells = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())['cells']
    text = '\n\n'.join(''.join(c['source']).strip() for c in cells if c['cell_type'] == 'markdown') + '\n'
    return re.sub(r'\]\((?!https?:|#|/)([^)]+)\)', r'](nbs/\1)', text)      # relative links and images


if __name__ == '__main__':
    (ROOT / 'README.md').write_text(readme())
    print('README.md written from nbs/index.ipynb')
