"""HTCondor's new ("V2") syntax of arguments and environment, stdlib only (Python >= 3.6).

White space separates words; single quotes group (white space included); inside single quotes
`''` is one literal single quote; no backslash escapes. `join_v2` writes words back in the
canonical form condor_submit stores in `Arguments`: only white space and quotes are quoted
(`a 'b c'` -> `a b' 'c`).
"""

import re
from typing import List

_SPECIAL = re.compile(r"([\s']+)")


def split_v2(text: str) -> List[str]:
    """Words of a V2 string; ValueError on an unterminated single quote."""
    words = []  # type: List[str]
    current = []  # type: List[str]
    in_word = quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        index += 1
        if quoted:
            if char == "'" and text[index : index + 1] == "'":
                current.append("'")
                index += 1
            elif char == "'":
                quoted = False
            else:
                current.append(char)
        elif char == "'":
            quoted = in_word = True
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
    if quoted:
        raise ValueError("unterminated single quote")
    if in_word:
        words.append("".join(current))
    return words


def join_v2(words: List[str]) -> str:
    """The canonical V2 text of `words` (split_v2(join_v2(w)) == w)."""
    out = []
    for word in words:
        if not word:
            out.append("''")
            continue
        out.append(_SPECIAL.sub(lambda m: "'" + m.group(1).replace("'", "''") + "'", word))
    return " ".join(out)
