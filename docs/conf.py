# Sphinx configuration of the docs site (built by `bash .ci/docs`, which copies this file next to the processed notebooks).
project = 'wysiwyg'
author = 'wysiwyg developers'
extensions = ['myst_nb', 'sphinx.ext.autodoc', 'sphinx.ext.napoleon', 'sphinx-mathjax-offline']
html_theme = 'furo'
html_title = 'wysiwyg'
html_static_path = ['_static']
templates_path = ['_templates']
exclude_patterns = ['_build', '_site', 'jupyter_execute', '**.ipynb_checkpoints']
nb_execution_mode = 'off'                      # the notebooks' saved outputs are the pages' figures
myst_enable_extensions = ['dollarmath', 'amsmath']
myst_heading_anchors = 3
suppress_warnings = ['myst.header', 'mystnb.unknown_mime_type', 'misc.highlighting_failure']
# Offline pages: a live widget needs its manager from a CDN and plotly's JSON needs plotly.js' renderer, so the
# pages show the picture an explorer carries and the HTML a `PlotlyView` carries (plotly.js is loaded by page.html).
nb_mime_priority_overrides = [('html', 'application/vnd.jupyter.widget-view+json', None),
                              ('html', 'application/vnd.jupyter.widget-state+json', None),
                              ('html', 'application/vnd.plotly.v1+json', None)]
autodoc_member_order = 'bysource'
autodoc_typehints = 'none'


def _markdown_docstrings(app, what, name, obj, options, lines):
    "The docstrings are Markdown: in reStructuredText, $x$ becomes math, `code` ``code``, and | stays a character."
    import re
    literal = lambda m: f"``{m[1]}``" + ('\\ ' if m[2][:1].isalnum() else '') + m[2]   # ``Scene``\ s: a literal before a letter
    def text(t): return re.sub(r'(?<![`\\])`([^`]+)`(?!`)(\w?)', literal, t.replace('|', r'\|'))
    for i, line in enumerate(lines):
        parts = re.split(r'\$([^$]+)\$', line)                         # text, math, text, math, ...
        lines[i] = ''.join(text(t) if k % 2 == 0 else f':math:`{t}`\\ ' for k, t in enumerate(parts))


def setup(app):
    app.connect('autodoc-process-docstring', _markdown_docstrings)
