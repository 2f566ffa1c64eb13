"""Text normalisation: a line of dialogue as written -> the words a TTS voice should say.

The original text is kept elsewhere for subtitles; this package only produces the spoken form.
`normalize` is a fixed sequence of regex passes (all compiled at import time), each turning one
kind of written token into words: pronunciation lexicon first, then abbreviations, dates, times,
money, percentages, units, ordinals, years, plain numbers, Roman numerals, capitals, and finally
the punctuation that drives prosody. The rules and the choices behind them are in
docs/normalize.md.

The modules, in pipeline order: `characters` (Unicode and emphasis clean-up), `lexicon`,
`abbreviations`, `dates_times`, `money_units`, `numbers` (the other number passes; the words
themselves are in `number_words`), `punctuation` (symbols, pauses), `capitals` (Roman numerals,
acronyms, shouting). `pipeline` runs them in order.
"""

from compiler.normalize.lexicon import Lexicon
from compiler.normalize.number_words import cardinal, ordinal, year
# `_normalize` (the rules without normalize()'s last-resort guard) is what the tests fuzz.
from compiler.normalize.pipeline import _normalize, normalize  # noqa: F401

__all__ = ["Lexicon", "cardinal", "normalize", "ordinal", "year"]
