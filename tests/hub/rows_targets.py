"""Rows the hub emulator serves for targets (tests only), in the published schemas.

XTREME / XTREME-R target repos (xstilts.hub_schemas, the `targets` block). ClassLabel columns
hold integer ids as in the real Parquet files; the CHECKS below assert the label *names* the
loaders derive from them, so a wrong ClassLabel order or a wrong column is caught. The English
train/dev of xquad / mlqa / tydiqa (SQuAD) and xcopa (COPA) come from rows_intermediate.py;
the checks here only look at splits served from this module's repos.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- helpers


def _qa(qid: str, context: str, question: str, answer: str, title: str | None = None) -> dict:
    """A SQuAD-style row whose answer_start indexes `answer` in `context`."""
    row = {"id": qid, "context": context, "question": question,
           "answers": {"text": [answer], "answer_start": [context.index(answer)]}}
    if title is not None:
        row["title"] = title
    return row


def _mlqa(qid: str, context: str, question: str, answer: str) -> dict:
    return {"context": context, "question": question,
            "answers": {"answer_start": [context.index(answer)], "text": [answer]}, "id": qid}


def _spans(text: str, sentences: list[str]) -> list[dict]:
    out, pos = [], 0
    for s in sentences:
        start = text.index(s, pos)
        out.append({"start": start, "end": start + len(s)})
        pos = start + len(s)
    return out


# UPOS ids of universal_dependencies' ClassLabel (NOUN, PUNCT, ADP, NUM, SYM, SCONJ, ADJ, PART,
# DET, CCONJ, PROPN, PRON, X, _, ADV, INTJ, VERB, AUX)
_UPOS = {n: i for i, n in enumerate([
    "NOUN", "PUNCT", "ADP", "NUM", "SYM", "SCONJ", "ADJ", "PART", "DET", "CCONJ", "PROPN", "PRON",
    "X", "_", "ADV", "INTJ", "VERB", "AUX"])}  # fmt: skip


def _ud(idx: str, words: list[tuple], text: str | None = None) -> dict:
    """words: (form, lemma, upos, xpos, feats, head, deprel) per CoNLL-U line; a multiword token
    line is (form, None, "_", None, "None", "None", "None") as the loading script writes it."""
    tokens = [w[0] for w in words]
    return {
        "idx": idx, "text": text if text is not None else " ".join(tokens), "tokens": tokens,
        "lemmas": [w[1] for w in words], "upos": [_UPOS[w[2]] for w in words],
        "xpos": [w[3] for w in words], "feats": [w[4] for w in words],
        "head": [w[5] for w in words], "deprel": [w[6] for w in words],
        "deps": ["None"] * len(words), "misc": ["None"] * len(words),
    }


def _panx(tokens: list[str], tags: list[int], lang: str, spans: list[str]) -> dict:
    return {"tokens": tokens, "ner_tags": tags, "langs": [lang] * len(tokens), "spans": spans}


def _copa(premise: str, c1: str, c2: str, question: str, label: int, idx: int) -> dict:
    return {"premise": premise, "choice1": c1, "choice2": c2, "question": question,
            "label": label, "idx": idx, "changed": False}


def _mewsli_doc(doc_id: str, lang: str, title: str, sentences: list[str],
                mentions: list[tuple[str, str, str, int]]) -> dict:
    """mentions: (example_id, mention text, entity id, occurrence index in the text)."""
    text = " ".join(sentences)
    out = []
    for example_id, mention, entity_id, nth in mentions:
        start = -1
        for _ in range(nth + 1):
            start = text.index(mention, start + 1)
        out.append({
            "example_id": example_id,
            "mention_span": {"start": start, "end": start + len(mention), "text": mention},
            "entity_id": entity_id,
            "metadata": {"curid": doc_id.split("-")[1], "revid": "1", "text_md5": "0" * 32,
                         "mention_url": f"http://{lang}.wikipedia.org/wiki/{mention}",
                         "bin_name": "bin04_1000-inf"},
        })
    return {"context": {"document_title": title,
                        "document_url": f"https://{lang}.wikinews.org/wiki?curid={doc_id[3:]}",
                        "document_id": doc_id, "language": lang, "text": text,
                        "sentence_spans": _spans(text, sentences)},
            "mentions": out}


def _entity(entity_id: str, title: str, lang: str, sentences: list[str]) -> dict:
    description = " ".join(sentences)
    return {"entity_id": entity_id, "title": title, "description": description,
            "sentence_spans": _spans(description, sentences), "description_language": lang,
            "description_url": f"https://{lang}.wikipedia.org/wiki/{title}"}


# --------------------------------------------------------------------------- XNLI / PAWS-X
# XNLI label ids: 0 entailment, 1 neutral, 2 contradiction

_XNLI_ROWS = {
    "en": {
        "train": [
            {"premise": "A man is playing a guitar on stage.",
             "hypothesis": "A man is performing music.", "label": 0},
            {"premise": "The restaurant closes at nine every evening.",
             "hypothesis": "The restaurant is open all night.", "label": 2},
            {"premise": "She bought a new phone last week.",
             "hypothesis": "She bought the phone for her brother.", "label": 1},
        ],
        "validation": [
            {"premise": "The children are sleeping in the tent.",
             "hypothesis": "The kids are outdoors camping.", "label": 1},
            {"premise": "It rained all day in Paris.",
             "hypothesis": "Paris had a wet day.", "label": 0},
        ],
        "test": [
            {"premise": "The train left the station on time.",
             "hypothesis": "The train was three hours late.", "label": 2},
            {"premise": "Two dogs run across a field.",
             "hypothesis": "Animals are moving outside.", "label": 0},
        ],
    },
    "de": {
        "validation": [
            {"premise": "Der Mann liest eine Zeitung im Park.",
             "hypothesis": "Ein Mann ist draußen.", "label": 0},
            {"premise": "Das Museum ist montags geschlossen.",
             "hypothesis": "Das Museum ist jeden Tag geöffnet.", "label": 2},
        ],
        "test": [
            {"premise": "Die Kinder spielen im Garten Fußball.",
             "hypothesis": "Die Kinder haben morgen Schule.", "label": 1},
            {"premise": "Sie trinkt jeden Morgen Kaffee.",
             "hypothesis": "Sie trinkt niemals Kaffee.", "label": 2},
        ],
    },
}

# PAWS-X label names are the strings '0' / '1' (id 0 -> '0' = not paraphrase)
_PAWSX_ROWS = {
    "en": {
        "train": [
            {"id": 1, "sentence1": "In Paris , in October 1560 , he secretly met the English "
             "ambassador , Nicolas Throckmorton .", "sentence2": "In October 1560 , he secretly "
             "met with the English ambassador , Nicolas Throckmorton , in Paris .", "label": 1},
            {"id": 2, "sentence1": "The NBA season of 1975 -- 76 was the 30th season of the "
             "National Basketball Association .", "sentence2": "The 1975 -- 76 season of the "
             "National Basketball Association was the 30th season of the NBA .", "label": 1},
            {"id": 3, "sentence1": "There are also specific discussions , public profile "
             "debates and project discussions .", "sentence2": "There are also public "
             "discussions , profile specific discussions , and project discussions .",
             "label": 0},
        ],
        "validation": [
            {"id": 1, "sentence1": "Bradd Crellin represented BARLA Cumbria on a tour of "
             "Australia .", "sentence2": "Bradd Crellin represented BARLA Great Britain on a "
             "tour through Australia .", "label": 0},
            {"id": 2, "sentence1": "The river flows north into Lake Huron .",
             "sentence2": "Flowing north , the river enters Lake Huron .", "label": 1},
        ],
        "test": [
            {"id": 1, "sentence1": "The Tabaci River is a tributary of the River Leurda in "
             "Romania .", "sentence2": "The Leurda River is a tributary of the River Tabaci in "
             "Romania .", "label": 0},
            {"id": 2, "sentence1": "He was born in Dublin and died in London .",
             "sentence2": "Born in Dublin , he died in London .", "label": 1},
        ],
    },
    "de": {
        "validation": [
            {"id": 1, "sentence1": "Der Fluss mündet im Norden in den Huronsee .",
             "sentence2": "Im Norden fließt der Fluss in den Huronsee .", "label": 1},
            {"id": 2, "sentence1": "Sie zog 1990 von Berlin nach Hamburg .",
             "sentence2": "Sie zog 1990 von Hamburg nach Berlin .", "label": 0},
        ],
        "test": [
            {"id": 1, "sentence1": "Der Tabaci ist ein Nebenfluss des Leurda in Rumänien .",
             "sentence2": "Der Leurda ist ein Nebenfluss des Tabaci in Rumänien .", "label": 0},
            {"id": 2, "sentence1": "Er wurde in Dublin geboren und starb in London .",
             "sentence2": "In Dublin geboren , starb er in London .", "label": 1},
        ],
    },
}

# --------------------------------------------------------------------------- UD (udpos)

def _en(idx: str, text: str, words: list[tuple]) -> dict:
    return _ud(idx, words, text)


_UD_ROWS = {
    "en_ewt": {
        "train": [
            _en("weblog-0001", "The cat sat.", [
                ("The", "the", "DET", "DT", "None", "2", "det"),
                ("cat", "cat", "NOUN", "NN", "{'Number': 'Sing'}", "3", "nsubj"),
                ("sat", "sit", "VERB", "VBD", "{'Tense': 'Past'}", "0", "root"),
                (".", ".", "PUNCT", ".", "None", "3", "punct")]),
            _en("weblog-0002", "She quickly left .", [
                ("She", "she", "PRON", "PRP", "{'Case': 'Nom'}", "3", "nsubj"),
                ("quickly", "quickly", "ADV", "RB", "None", "3", "advmod"),
                ("left", "leave", "VERB", "VBD", "{'Tense': 'Past'}", "0", "root"),
                (".", ".", "PUNCT", ".", "None", "3", "punct")]),
        ],
        "validation": [
            _en("email-0001", "Two new offices opened", [
                ("Two", "two", "NUM", "CD", "{'NumType': 'Card'}", "3", "nummod"),
                ("new", "new", "ADJ", "JJ", "{'Degree': 'Pos'}", "3", "amod"),
                ("offices", "office", "NOUN", "NNS", "{'Number': 'Plur'}", "4", "nsubj"),
                ("opened", "open", "VERB", "VBD", "{'Tense': 'Past'}", "0", "root")]),
        ],
        "test": [
            _en("answers-0001", "Yes, it is mine!", [
                ("Yes", "yes", "INTJ", "UH", "None", "5", "discourse"),
                (",", ",", "PUNCT", ",", "None", "5", "punct"),
                ("it", "it", "PRON", "PRP", "{'Case': 'Nom'}", "5", "nsubj"),
                ("is", "be", "AUX", "VBZ", "{'Mood': 'Ind'}", "5", "cop"),
                ("mine", "my", "PRON", "PRP", "{'Poss': 'Yes'}", "0", "root"),
                ("!", "!", "PUNCT", ".", "None", "5", "punct")]),
        ],
    },
    "en_gum": {
        "train": [_en("GUM_news_0001-1", "Mars and Venus", [
            ("Mars", "Mars", "PROPN", "NNP", "{'Number': 'Sing'}", "0", "root"),
            ("and", "and", "CCONJ", "CC", "None", "3", "cc"),
            ("Venus", "Venus", "PROPN", "NNP", "{'Number': 'Sing'}", "1", "conj")])],
        "validation": [_en("GUM_bio_0001-1", "He was born in 1950", [
            ("He", "he", "PRON", "PRP", "{'Case': 'Nom'}", "3", "nsubj:pass"),
            ("was", "be", "AUX", "VBD", "{'Mood': 'Ind'}", "3", "aux:pass"),
            ("born", "bear", "VERB", "VBN", "{'VerbForm': 'Part'}", "0", "root"),
            ("in", "in", "ADP", "IN", "None", "5", "case"),
            ("1950", "1950", "NUM", "CD", "{'NumType': 'Card'}", "3", "obl")])],
        "test": [_en("GUM_voyage_0001-1", "Visit the old town", [
            ("Visit", "visit", "VERB", "VB", "{'Mood': 'Imp'}", "0", "root"),
            ("the", "the", "DET", "DT", "None", "4", "det"),
            ("old", "old", "ADJ", "JJ", "{'Degree': 'Pos'}", "4", "amod"),
            ("town", "town", "NOUN", "NN", "{'Number': 'Sing'}", "1", "obj")])],
    },
    "en_lines": {
        "train": [_en("en_lines-ud-train-s1", "Click Save", [
            ("Click", "click", "VERB", "VB", "{'Mood': 'Imp'}", "0", "root"),
            ("Save", "Save", "PROPN", "NNP", "{'Number': 'Sing'}", "1", "obj")])],
        "validation": [_en("en_lines-ud-dev-s1", "if needed", [
            ("if", "if", "SCONJ", "IN", "None", "2", "mark"),
            ("needed", "need", "VERB", "VBN", "{'VerbForm': 'Part'}", "0", "root")])],
        "test": [_en("en_lines-ud-test-s1", "Not now", [
            ("Not", "not", "PART", "RB", "None", "2", "advmod"),
            ("now", "now", "ADV", "RB", "None", "0", "root")])],
    },
    "en_partut": {
        "train": [_en("en_partut-ud-1", "The law applies", [
            ("The", "the", "DET", "DT", "None", "2", "det"),
            ("law", "law", "NOUN", "NN", "{'Number': 'Sing'}", "3", "nsubj"),
            ("applies", "apply", "VERB", "VBZ", "{'Mood': 'Ind'}", "0", "root")])],
        "validation": [_en("en_partut-ud-2", "Article 5", [
            ("Article", "article", "NOUN", "NN", "{'Number': 'Sing'}", "0", "root"),
            ("5", "5", "NUM", "CD", "{'NumType': 'Card'}", "1", "nummod")])],
        "test": [_en("en_partut-ud-3", "costs $ 5", [
            ("costs", "cost", "VERB", "VBZ", "{'Mood': 'Ind'}", "0", "root"),
            ("$", "$", "SYM", "$", "None", "1", "obj"),
            ("5", "5", "NUM", "CD", "{'NumType': 'Card'}", "2", "nummod")])],
    },
    "en_pronouns": {
        "test": [_en("en_pronouns-1", "The book is hers", [
            ("The", "the", "DET", "DT", "None", "2", "det"),
            ("book", "book", "NOUN", "NN", "{'Number': 'Sing'}", "4", "nsubj"),
            ("is", "be", "AUX", "VBZ", "{'Mood': 'Ind'}", "4", "cop"),
            ("hers", "her", "PRON", "PRP", "{'Poss': 'Yes'}", "0", "root")])],
    },
    "en_pud": {
        "test": [_en("n01001011", "Oh well", [
            ("Oh", "oh", "INTJ", "UH", "None", "2", "discourse"),
            ("well", "well", "ADV", "RB", "None", "0", "root")])],
    },
    "el_gdt": {
        "train": [_ud("gdt-20120321-1", [
            ("Ο", "ο", "DET", "DET", "{'Case': 'Nom'}", "2", "det"),
            ("σκύλος", "σκύλος", "NOUN", "NOUN", "{'Case': 'Nom'}", "3", "nsubj"),
            ("τρέχει", "τρέχω", "VERB", "VERB", "{'Mood': 'Ind'}", "0", "root")])],
        # "στο" is a multiword token (= σε + το): upos "_" and head "None" in the script's rows
        "validation": [_ud("gdt-20120321-2", [
            ("Πήγα", "πηγαίνω", "VERB", "VERB", "{'Mood': 'Ind'}", "0", "root"),
            ("στο", None, "_", None, "None", "None", "None"),
            ("σε", "σε", "ADP", "ADP", "None", "5", "case"),
            ("το", "ο", "DET", "DET", "{'Case': 'Acc'}", "5", "det"),
            ("σπίτι", "σπίτι", "NOUN", "NOUN", "{'Case': 'Acc'}", "1", "obl"),
            (".", ".", "PUNCT", "PUNCT", "None", "1", "punct")], text="Πήγα στο σπίτι.")],
        "test": [_ud("gdt-20120321-3", [
            ("Η", "ο", "DET", "DET", "{'Case': 'Nom'}", "2", "det"),
            ("Αθήνα", "Αθήνα", "PROPN", "PROPN", "{'Case': 'Nom'}", "3", "nsubj"),
            ("είναι", "είμαι", "AUX", "AUX", "{'Mood': 'Ind'}", "4", "cop"),
            ("μεγάλη", "μεγάλος", "ADJ", "ADJ", "{'Case': 'Nom'}", "0", "root")])],
    },
    "th_pud": {
        "test": [_ud("n01002042", [
            ("ฉัน", "ฉัน", "PRON", "PPRS", "None", "2", "nsubj"),
            ("กิน", "กิน", "VERB", "VACT", "None", "0", "root"),
            ("ข้าว", "ข้าว", "NOUN", "NCMN", "None", "2", "obj")], text="ฉันกินข้าว")],
    },
}

# --------------------------------------------------------------------------- WikiANN (panx)
# ner_tags ids: 0 O, 1 B-PER, 2 I-PER, 3 B-ORG, 4 I-ORG, 5 B-LOC, 6 I-LOC

_PANX_ROWS = {
    "en": {
        "train": [
            _panx(["Barack", "Obama", "visited", "Berlin", "."], [1, 2, 0, 5, 0], "en",
                  ["PER: Barack Obama", "LOC: Berlin"]),
            _panx(["He", "joined", "the", "World", "Bank", "."], [0, 0, 0, 3, 4, 0], "en",
                  ["ORG: World Bank"]),
        ],
        "validation": [
            _panx(["New", "York", "City"], [5, 6, 6], "en", ["LOC: New York City"]),
            _panx(["Marie", "Curie"], [1, 2], "en", ["PER: Marie Curie"]),
        ],
        "test": [
            _panx(["Microsoft", "Corporation", "in", "Redmond"], [3, 4, 0, 5], "en",
                  ["ORG: Microsoft Corporation", "LOC: Redmond"]),
            _panx(["Albert", "Einstein", "was", "born", "in", "Ulm"], [1, 2, 0, 0, 0, 5], "en",
                  ["PER: Albert Einstein", "LOC: Ulm"]),
        ],
    },
    "de": {
        "validation": [
            _panx(["Angela", "Merkel", "besuchte", "Paris"], [1, 2, 0, 5], "de",
                  ["PER: Angela Merkel", "LOC: Paris"]),
            _panx(["Die", "Deutsche", "Bahn", "streikt"], [0, 3, 4, 0], "de",
                  ["ORG: Deutsche Bahn"]),
        ],
        "test": [
            _panx(["Johann", "Wolfgang", "von", "Goethe"], [1, 2, 2, 2], "de",
                  ["PER: Johann Wolfgang von Goethe"]),
            _panx(["Der", "Rhein", "fließt", "durch", "Köln"], [0, 5, 0, 0, 5], "de",
                  ["LOC: Rhein", "LOC: Köln"]),
        ],
    },
}

# --------------------------------------------------------------------------- QA targets

_XQUAD_EN_CTX = ("The Panthers finished the regular season with a 15–1 record, and quarterback "
                 "Cam Newton was named the NFL Most Valuable Player.")
_XQUAD_DE_CTX = ("Die Panthers beendeten die reguläre Saison mit einer Bilanz von 15–1, und "
                 "Quarterback Cam Newton wurde zum NFL Most Valuable Player ernannt.")
_XQUAD_ROWS = {
    "xquad.en": {"validation": [
        _qa("56beb4343aeaaa14008c925b", _XQUAD_EN_CTX,
            "What was the Panthers' regular season record?", "15–1"),
        _qa("56beb4343aeaaa14008c925c", _XQUAD_EN_CTX,
            "Who was named the NFL Most Valuable Player?", "Cam Newton"),
    ]},
    "xquad.de": {"validation": [
        _qa("56beb4343aeaaa14008c925c", _XQUAD_DE_CTX,
            "Wer wurde zum NFL Most Valuable Player ernannt?", "Cam Newton"),
        _qa("56beb4343aeaaa14008c925d", _XQUAD_DE_CTX,
            "Mit welcher Bilanz beendeten die Panthers die Saison?", "15–1"),
    ]},
}

_MLQA_EN_CTX = ("The Amazon rainforest covers much of the Amazon basin of South America. The "
                "basin covers seven million square kilometres.")
_MLQA_DE_CTX = ("Der Amazonas-Regenwald bedeckt große Teile des Amazonasbeckens in Südamerika. "
                "Das Becken umfasst sieben Millionen Quadratkilometer.")
_MLQA_ROWS = {
    "mlqa.en.en": {
        "test": [
            _mlqa("5a1b2c3d4e5f60718293a4b5", _MLQA_EN_CTX,
                  "How large is the Amazon basin?", "seven million square kilometres"),
            _mlqa("5a1b2c3d4e5f60718293a4b6", _MLQA_EN_CTX,
                  "On which continent is the Amazon basin?", "South America"),
        ],
        "validation": [  # MLQA's own English dev: published, but not read (en dev = SQuAD)
            _mlqa("6b1b2c3d4e5f60718293a4b5", _MLQA_EN_CTX,
                  "What covers the Amazon basin?", "The Amazon rainforest"),
        ],
    },
    "mlqa.de.de": {
        "validation": [
            _mlqa("7c1b2c3d4e5f60718293a4b5", _MLQA_DE_CTX,
                  "Wo liegt das Amazonasbecken?", "Südamerika"),
            _mlqa("7c1b2c3d4e5f60718293a4b6", _MLQA_DE_CTX,
                  "Was bedeckt das Amazonasbecken?", "Der Amazonas-Regenwald"),
        ],
        "test": [
            _mlqa("8d1b2c3d4e5f60718293a4b5", _MLQA_DE_CTX,
                  "Wie groß ist das Becken?", "sieben Millionen Quadratkilometer"),
            _mlqa("8d1b2c3d4e5f60718293a4b6", _MLQA_DE_CTX,
                  "Welcher Regenwald wird beschrieben?", "Der Amazonas-Regenwald"),
        ],
    },
}

_TY_EN = ("Nikola Tesla was a Serbian-American inventor, best known for his contributions to "
          "the design of the modern alternating current electricity supply system.")
_TY_FI = ("Helsinki on Suomen pääkaupunki ja maan suurin kaupunki. Kaupungissa asuu noin "
          "660 000 ihmistä.")
_TY_AR = "القاهرة هي عاصمة جمهورية مصر العربية وأكبر مدنها."
_TYDIQA_ROWS = {"secondary_task": {
    "train": [
        _qa("english-3064245361891209843-0", _TY_EN, "What is Nikola Tesla best known for?",
            "his contributions to the design of the modern alternating current electricity "
            "supply system", title="Nikola Tesla"),
        _qa("finnish-1438910243518532981-0", _TY_FI, "Mikä on Suomen pääkaupunki?",
            "Helsinki", title="Helsinki"),
        _qa("finnish-1438910243518532981-1", _TY_FI, "Kuinka monta ihmistä Helsingissä asuu?",
            "noin 660 000", title="Helsinki"),
        _qa("arabic-2867387163447193412-0", _TY_AR, "ما هي عاصمة مصر؟", "القاهرة",
            title="القاهرة"),
    ],
    "validation": [
        _qa("english-8952743802146728001-0", _TY_EN, "What nationality was Nikola Tesla?",
            "Serbian-American", title="Nikola Tesla"),
        _qa("finnish-5270158832463279052-0", _TY_FI, "Mikä on maan suurin kaupunki?",
            "Helsinki", title="Helsinki"),
        _qa("arabic-1201785163447193412-0", _TY_AR, "ما هي أكبر مدينة في مصر؟", "القاهرة",
            title="القاهرة"),
    ],
}}

# --------------------------------------------------------------------------- Tatoeba

_TATOEBA_ROWS = {
    "deu-eng": {"test": [
        {"sentence1": "Ich habe Hunger.", "sentence2": "I am hungry."},
        {"sentence1": "Wo ist der Bahnhof?", "sentence2": "Where is the train station?"},
    ]},
    "fra-eng": {"test": [
        {"sentence1": "Il pleut depuis ce matin.", "sentence2": "It has been raining since "
         "this morning."},
        {"sentence1": "Je ne sais pas.", "sentence2": "I don't know."},
    ]},
    "pol-eng": {"test": [
        {"sentence1": "Dziękuję bardzo.", "sentence2": "Thank you very much."},
        {"sentence1": "Gdzie jest łazienka?", "sentence2": "Where is the bathroom?"},
    ]},
}

# --------------------------------------------------------------------------- XCOPA
# label is a plain int: 0 -> choice1, 1 -> choice2

_XCOPA_ROWS = {"et": {
    "validation": [
        _copa("Mees keeras kraani lahti.", "Tualett täitus veega.", "Kraanist voolas vett.",
              "effect", 1, 1),
        _copa("Tüdruk leidis oma helveste seest putuka.", "Ta valas piima kaussi.",
              "Ta kaotas isu.", "effect", 1, 2),
    ],
    "test": [
        _copa("Ese oli mullikilesse mässitud.", "See oli õrn.", "See oli väike.", "cause", 0,
              1),
        _copa("Mu keha heitis muru peale varju.", "Päike tõusis.", "Muru oli niidetud.",
              "cause", 0, 2),
    ],
}}

# --------------------------------------------------------------------------- Mewsli-X

_MEWSLIX_ROWS = {
    "en": {"test": [
        _mewsli_doc("en-90001", "en", "Storm hits Berlin",
                    ["Heavy rain hit Berlin on Monday.", "The city closed {some} schools."],
                    [("ex-en-0001", "Berlin", "Q64", 0)]),
        _mewsli_doc("en-90002", "en", "Election in France",
                    ["Voters in France went to the polls.", "Results are expected in Paris."],
                    [("ex-en-0002", "France", "Q142", 0), ("ex-en-0003", "Paris", "Q90", 0)]),
    ]},
    "de": {"test": [
        _mewsli_doc("de-70001", "de", "Sturm über Berlin",
                    ["Ein Sturm traf am Montag Berlin.", "Die Stadt schloss Schulen."],
                    [("ex-de-0001", "Berlin", "Q64", 0)]),
    ]},
    "candidate_entities": {"test": [
        _entity("Q64", "Berlin", "en", ["Berlin is the capital of Germany.",
                                        "It has 3.7 million inhabitants."]),
        _entity("Q142", "Frankreich", "de", ["Frankreich ist ein Staat in Westeuropa."]),
        _entity("Q90", "Paris", "fr", ["Paris est la capitale de la France."]),
    ]},
}

# --------------------------------------------------------------------------- exported tables

ROWS = {
    "facebook/xnli": _XNLI_ROWS,
    "google-research-datasets/paws-x": _PAWSX_ROWS,
    "universal-dependencies/universal_dependencies": _UD_ROWS,
    "unimelb-nlp/wikiann": _PANX_ROWS,
    "google/xquad": _XQUAD_ROWS,
    "facebook/mlqa": _MLQA_ROWS,
    "google-research-datasets/tydiqa": _TYDIQA_ROWS,
    "mteb/tatoeba-bitext-mining": _TATOEBA_ROWS,
    "cambridgeltl/xcopa": _XCOPA_ROWS,
    "izhx/mewsli-x": _MEWSLIX_ROWS,
}

LOADS = {
    "xnli": ("en", "de"),
    "pawsx": ("en", "de"),
    "udpos": ("en", "el", "th"),
    "panx": ("en", "de"),
    "xquad": ("en", "de"),
    "mlqa": ("en", "de"),
    "tydiqa": ("en", "fi"),
    "tydiqa_train": ("en", "fi"),
    "tatoeba": ("de", "fr"),
    "tatoeba_r": ("de", "pl"),
    "xcopa": ("en", "et"),
    "mewslix": ("de",),
}

CHECKS = {
    "xnli": [
        ("en", "train", 0, "label_name", "entailment"),
        ("en", "train", 1, "label_name", "contradiction"),
        ("en", "train", 2, "label_name", "neutral"),
        ("en", "train", 0, "text_a", "A man is playing a guitar on stage."),
        ("en", "dev", 0, "label_name", "neutral"),
        ("en", "test", 0, "label_name", "contradiction"),
        ("de", "dev", 1, "label_name", "contradiction"),
        ("de", "dev", 0, "text_b", "Ein Mann ist draußen."),
        ("de", "test", 0, "label_name", "neutral"),
        ("de", "test", 1, "id", "de-test-1"),
    ],
    "pawsx": [
        ("en", "train", 0, "label_name", "paraphrase"),
        ("en", "train", 2, "label_name", "not_paraphrase"),
        ("en", "train", 2, "id", "3"),
        ("en", "dev", 0, "label_name", "not_paraphrase"),
        ("en", "test", 1, "label_name", "paraphrase"),
        ("de", "dev", 1, "label_name", "not_paraphrase"),
        ("de", "test", 0, "label_name", "not_paraphrase"),
        ("de", "test", 1, "text_a", "Er wurde in Dublin geboren und starb in London ."),
    ],
    "udpos": [
        ("en", "train", 0, "tag_names", ["DET", "NOUN", "VERB", "PUNCT"]),
        ("en", "train", 0, "id", "en_ewt:weblog-0001"),
        ("en", "train", 1, "tag_names", ["PRON", "ADV", "VERB", "PUNCT"]),
        ("en", "train", 2, "id", "en_gum:GUM_news_0001-1"),
        ("en", "train", 2, "tag_names", ["PROPN", "CCONJ", "PROPN"]),
        ("en", "train", 3, "tag_names", ["VERB", "PROPN"]),
        ("en", "dev", 0, "tag_names", ["NUM", "ADJ", "NOUN", "VERB"]),
        ("en", "dev", 2, "tag_names", ["SCONJ", "VERB"]),
        ("en", "test", 0, "tag_names", ["INTJ", "PUNCT", "PRON", "AUX", "PRON", "PUNCT"]),
        ("en", "test", 2, "tag_names", ["PART", "ADV"]),
        ("en", "test", 3, "tag_names", ["VERB", "SYM", "NUM"]),
        ("en", "test", 4, "id", "en_pronouns:en_pronouns-1"),
        ("en", "test", 5, "id", "en_pud:n01001011"),
        # the multiword token "στο" (upos "_", head None) is dropped
        ("el", "dev", 0, "tokens", ["Πήγα", "σε", "το", "σπίτι", "."]),
        ("el", "dev", 0, "tag_names", ["VERB", "ADP", "DET", "NOUN", "PUNCT"]),
        ("el", "test", 0, "tag_names", ["DET", "PROPN", "AUX", "ADJ"]),
        ("th", "test", 0, "tag_names", ["PRON", "VERB", "NOUN"]),
    ],
    "panx": [
        ("en", "train", 0, "tag_names", ["B-PER", "I-PER", "O", "B-LOC", "O"]),
        ("en", "train", 1, "tag_names", ["O", "O", "O", "B-ORG", "I-ORG", "O"]),
        ("en", "train", 1, "id", "en-train-1"),
        ("en", "dev", 0, "tag_names", ["B-LOC", "I-LOC", "I-LOC"]),
        ("en", "test", 0, "tag_names", ["B-ORG", "I-ORG", "O", "B-LOC"]),
        ("de", "dev", 1, "tag_names", ["O", "B-ORG", "I-ORG", "O"]),
        ("de", "test", 0, "tag_names", ["B-PER", "I-PER", "I-PER", "I-PER"]),
        ("de", "test", 1, "tokens", ["Der", "Rhein", "fließt", "durch", "Köln"]),
    ],
    "xquad": [
        ("en", "test", 1, "id", "56beb4343aeaaa14008c925c"),
        ("en", "test", 1, "answers", {"text": ["Cam Newton"], "answer_start": [77]}),
        ("de", "test", 0, "question", "Wer wurde zum NFL Most Valuable Player ernannt?"),
        ("de", "test", 1, "answers", {"text": ["15–1"], "answer_start": [64]}),
    ],
    "mlqa": [
        ("en", "test", 0, "answers", {"text": ["seven million square kilometres"],
                                      "answer_start": [89]}),
        ("en", "test", 1, "id", "5a1b2c3d4e5f60718293a4b6"),
        ("de", "dev", 0, "answers", {"text": ["Südamerika"], "answer_start": [66]}),
        ("de", "test", 1, "question", "Welcher Regenwald wird beschrieben?"),
    ],
    "tydiqa": [
        ("en", "test", 0, "id", "english-8952743802146728001-0"),
        ("en", "test", 0, "answers", {"text": ["Serbian-American"], "answer_start": [19]}),
        ("fi", "test", 0, "id", "finnish-5270158832463279052-0"),
        ("fi", "test", 0, "answers", {"text": ["Helsinki"], "answer_start": [0]}),
    ],
    "tydiqa_train": [
        ("en", "train", 0, "id", "english-3064245361891209843-0"),
        ("fi", "train", 1, "id", "finnish-1438910243518532981-1"),
        ("fi", "train", 1, "answers", {"text": ["noin 660 000"], "answer_start": [73]}),
    ],
    "tatoeba": [
        ("de", "test", 0, "source", "Ich habe Hunger."),
        ("de", "test", 0, "target", "I am hungry."),
        ("de", "test", 1, "id", "de-1"),
        ("fr", "test", 1, "source", "Je ne sais pas."),
        ("fr", "test", 1, "target", "I don't know."),
    ],
    "tatoeba_r": [
        ("de", "test", 1, "target", "Where is the train station?"),
        ("pl", "test", 0, "source", "Dziękuję bardzo."),
        ("pl", "test", 1, "target", "Where is the bathroom?"),
    ],
    "xcopa": [
        ("et", "dev", 0, "label", 1),
        ("et", "dev", 0, "context", "Mees keeras kraani lahti. What was the effect?"),
        ("et", "dev", 0, "choices", ["Tualett täitus veega.", "Kraanist voolas vett."]),
        ("et", "test", 0, "label", 0),
        ("et", "test", 0, "context", "Ese oli mullikilesse mässitud. What was the cause?"),
        ("et", "test", 1, "id", "et-2"),
    ],
    "mewslix": [
        ("en", "test", 0, "id", "ex-en-0001"),
        ("en", "test", 0, "text", "Berlin: Heavy rain hit { Berlin } on Monday."),
        ("en", "test", 0, "relevant", ["Q64"]),
        ("en", "test", 2, "text", "Paris: Results are expected in { Paris } ."),
        ("en", "test", 2, "relevant", ["Q90"]),
        ("de", "test", 0, "text", "Berlin: Ein Sturm traf am Montag { Berlin } ."),
        ("de", "test", 0, "lang", "de"),
        ("en", "candidates", 0, "text",
         "Berlin is the capital of Germany. It has 3.7 million inhabitants."),
        ("en", "candidates", 1, "lang", "de"),
        ("en", "candidates", 2, "id", "Q90"),
    ],
}
