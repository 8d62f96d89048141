"""The published schema of every Hugging Face hub dataset the task registry reads, in one place.

Each entry is what the hub serves for a dataset repo at the registry's pinned revision: its
configs, the split names of each config, and the column types (``datasets.Features``: column
names, nested types, ClassLabel names in their published order). ``source`` names the public
file each schema was taken from. The loaders (``xstilts.tasks.xtreme`` / ``xtreme_r``) map these
columns and label names to the canonical task schemas; the hub emulator of the test suite
(``tests/hub``) serves exactly these schemas, so a loader that reads a wrong column, split,
config or label order fails there. ``xstilts pin --schemas`` on a hub-connected machine compares
each repo's real features with these and fails on a difference (how to refresh them:
docs/operations.md).

``loading_script``: the repo's default branch is a loading script (refused by ``datasets`` >= 4);
the data is read from its automatic Parquet export (branch ``refs/convert/parquet``, one folder
per config, one sub-folder per split).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from datasets import ClassLabel, Features, List, Sequence, Value  # noqa: F401


@dataclass(frozen=True)
class HubConfig:
    """One config of a hub dataset: its split names and its column types."""

    splits: tuple[str, ...]
    features: Features


@dataclass(frozen=True)
class HubSchema:
    """A hub dataset repo as published: configs (name -> HubConfig) and where that was read."""

    repo: str
    source: str
    configs: Mapping[str, HubConfig]
    loading_script: bool = False


SCHEMAS: dict[str, HubSchema] = {}


def _add(schema: HubSchema) -> None:
    if schema.repo in SCHEMAS:
        raise ValueError(f"hub schema {schema.repo!r} written twice")
    SCHEMAS[schema.repo] = schema


def schema_of(repo: str) -> HubSchema:
    """The published schema of hub dataset `repo`; a clear error names the known repos."""
    try:
        return SCHEMAS[repo]
    except KeyError:
        raise KeyError(f"no hub schema for {repo!r}; known: {sorted(SCHEMAS)}") from None


# --------------------------------------------------------------------------- schemas
# (one _add(HubSchema(...)) per repo; configs that share columns share one Features object)
# ---------------------------------------------------------------- targets (XTREME / XTREME-R)
# Written by the `targets` helper. Sources are named per repo; doubts are stated in `source`.

_XNLI = Features({
    "premise": Value("string"),
    "hypothesis": Value("string"),
    "label": ClassLabel(names=["entailment", "neutral", "contradiction"]),
})
_add(HubSchema(
    repo="facebook/xnli",
    source="hub README.md dataset_info of facebook/xnli (https://huggingface.co/datasets/xnli/"
    "blame/b8dd5d7af51114dbda02c0e3f6133f332186418e/README.md, and the same per-language "
    "features at 513e95b / 4846bbb / 30f0591): Parquet configs <lang> (+ all_languages, not read "
    "here), splits train/test/validation, label ClassLabel entailment/neutral/contradiction.",
    configs={lang: HubConfig(("train", "test", "validation"), _XNLI)
             for lang in ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr",
                          "ur", "vi", "zh")},
))

_PAWSX = Features({
    "id": Value("int32"),
    "sentence1": Value("string"),
    "sentence2": Value("string"),
    "label": ClassLabel(names=["0", "1"]),
})
_add(HubSchema(
    repo="google-research-datasets/paws-x",
    source="hub README.md dataset_info of google-research-datasets/paws-x (Parquet version, "
    "download_size 9045005 for en; mirrored at selectdataset.com/dataset/663daffc...): configs "
    "de/en/es/fr/ja/ko/zh, splits train/test/validation, id int32, label ClassLabel names "
    "'0','1' (strings: the loader maps them by its aliases 0->not_paraphrase, 1->paraphrase). "
    "Not checked: that 4cd8187c is exactly this Parquet revision (the registry says so).",
    configs={lang: HubConfig(("train", "test", "validation"), _PAWSX)
             for lang in ("de", "en", "es", "fr", "ja", "ko", "zh")},
))

# UD v2.7 treebank -> published splits, from _UD_DATASETS of the universal_dependencies.py
# loading script (huggingface/datasets datasets/universal_dependencies/universal_dependencies.py,
# r2.7 version): "dev" files become the "validation" split. Listed: the treebanks of the
# languages XTREME / XTREME-R's UD-POS reads (forms-less treebanks excluded, as the registry does).
_UD_SPLITS_V27 = {
    "en_ewt": "tvs", "en_gum": "tvs", "en_lines": "tvs", "en_partut": "tvs", "en_pronouns": "s",
    "en_pud": "s", "af_afribooms": "tvs", "ar_padt": "tvs", "ar_pud": "s", "bg_btb": "tvs",
    "de_gsd": "tvs", "de_hdt": "tvs", "de_lit": "s", "de_pud": "s", "el_gdt": "tvs",
    "es_ancora": "tvs", "es_gsd": "tvs", "es_pud": "s", "et_edt": "tvs", "et_ewt": "tvs",
    "eu_bdt": "tvs", "fa_perdt": "tvs", "fa_seraji": "tvs", "fi_ftb": "tvs", "fi_ood": "s",
    "fi_pud": "s", "fi_tdt": "tvs", "fr_fqb": "s", "fr_gsd": "tvs", "fr_partut": "tvs",
    "fr_pud": "s", "fr_sequoia": "tvs", "fr_spoken": "tvs", "he_htb": "tvs", "hi_hdtb": "tvs",
    "hi_pud": "s", "hu_szeged": "tvs", "id_csui": "ts", "id_gsd": "tvs", "id_pud": "s",
    "it_isdt": "tvs", "it_partut": "tvs", "it_postwita": "tvs", "it_pud": "s",
    "it_twittiro": "tvs", "it_vit": "tvs", "ja_gsd": "tvs", "ja_modern": "s", "ja_pud": "s",
    "kk_ktb": "ts", "ko_gsd": "tvs", "ko_kaist": "tvs", "ko_pud": "s", "mr_ufal": "tvs",
    "nl_alpino": "tvs", "nl_lassysmall": "tvs", "pt_bosque": "tvs", "pt_gsd": "tvs",
    "pt_pud": "s", "ru_gsd": "tvs", "ru_pud": "s", "ru_syntagrus": "tvs", "ru_taiga": "tvs",
    "ta_mwtt": "s", "ta_ttb": "tvs", "te_mtg": "tvs", "th_pud": "s", "tl_trg": "s",
    "tl_ugnayan": "s", "tr_boun": "tvs", "tr_gb": "s", "tr_imst": "tvs", "tr_pud": "s",
    "ur_udtb": "tvs", "vi_vtb": "tvs", "yo_ytb": "s", "zh_cfl": "s", "zh_gsd": "tvs",
    "zh_gsdsimp": "tvs", "zh_hk": "s", "zh_pud": "s", "lt_alksnis": "tvs", "lt_hse": "tvs",
    "pl_lfg": "tvs", "pl_pdb": "tvs", "pl_pud": "s", "uk_iu": "tvs", "wo_wtb": "tvs",
    "ro_nonstandard": "tvs", "ro_rrt": "tvs", "ro_simonero": "tvs",
}  # fmt: skip
_UD_SPLIT_NAMES = {"t": "train", "v": "validation", "s": "test"}
_UD = Features({
    "idx": Value("string"),
    "text": Value("string"),
    "tokens": List(Value("string")),
    "lemmas": List(Value("string")),
    "upos": List(ClassLabel(names=[
        "NOUN", "PUNCT", "ADP", "NUM", "SYM", "SCONJ", "ADJ", "PART", "DET", "CCONJ", "PROPN",
        "PRON", "X", "_", "ADV", "INTJ", "VERB", "AUX",
    ])),  # fmt: skip
    "xpos": List(Value("string")),
    "feats": List(Value("string")),
    "head": List(Value("string")),
    "deprel": List(Value("string")),
    "deps": List(Value("string")),
    "misc": List(Value("string")),
})
_add(HubSchema(
    repo="universal-dependencies/universal_dependencies",
    source="loading script universal_dependencies.py _info() features and _UD_DATASETS splits "
    "(huggingface/datasets datasets/universal_dependencies/universal_dependencies.py, UD r2.7 "
    "version; features also in datasets/universal_dependencies/dataset_infos.json): upos = "
    "Sequence(ClassLabel) in the script's order NOUN, PUNCT, ADP, ... '_' (multiword tokens) ..., "
    "AUX -- NOT the alphabetical UPOS order; head/feats/deps/misc are str(...) of the conllu "
    "values ('None' for multiword-token lines). The Parquet export (refs/convert/parquet) of the "
    "hub repo was not inspected: assumed to carry the script features; the hub repo's script "
    "version was not seen either (a UD 2.10 update would change splits of some treebanks).",
    configs={tb: HubConfig(tuple(_UD_SPLIT_NAMES[c] for c in s), _UD)
             for tb, s in _UD_SPLITS_V27.items()},
    loading_script=True,
))

_WIKIANN = Features({
    "tokens": List(Value("string")),
    "ner_tags": List(ClassLabel(names=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC",
                                       "I-LOC"])),
    "langs": List(Value("string")),
    "spans": List(Value("string")),
})
_add(HubSchema(
    repo="unimelb-nlp/wikiann",
    source="huggingface/datasets datasets/wikiann/dataset_infos.json (features tokens, ner_tags "
    "Sequence(ClassLabel O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC), langs, spans; splits "
    "validation/test/train) and README.md Data Fields; public code reads "
    "unimelb-nlp/wikiann@f0a3be6d <lang>/train-00000-of-00001.parquet, so the pin is Parquet.",
    configs={lang: HubConfig(("validation", "test", "train"), _WIKIANN)
             for lang in ("en", "ar", "he", "vi", "id", "jv", "ms", "tl", "eu", "ml", "ta", "te",
                          "af", "nl", "de", "el", "bn", "hi", "mr", "ur", "fa", "fr", "it", "pt",
                          "es", "bg", "ru", "ja", "ka", "ko", "th", "sw", "yo", "my", "zh", "kk",
                          "tr", "et", "fi", "hu", "qu", "pl", "uk", "az", "lt", "pa", "gu",
                          "ro")},
))

_XQUAD = Features({
    "id": Value("string"),
    "context": Value("string"),
    "question": Value("string"),
    "answers": {"text": List(Value("string")), "answer_start": List(Value("int32"))},
})
_add(HubSchema(
    repo="google/xquad",
    source="hub README.md of xquad at 51adfef ('Convert dataset to Parquet (#3)', "
    "https://huggingface.co/datasets/xquad/blob/main/README.md): configs xquad.<lang> "
    "(ar de el en es hi ro ru th tr vi zh), single split validation, answers sequence "
    "{text string, answer_start int32}.",
    configs={f"xquad.{lang}": HubConfig(("validation",), _XQUAD)
             for lang in ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi",
                          "zh")},
))

_MLQA = Features({
    "context": Value("string"),
    "question": Value("string"),
    "answers": {"answer_start": List(Value("int32")), "text": List(Value("string"))},
    "id": Value("string"),
})
_add(HubSchema(
    repo="facebook/mlqa",
    source="loading script mlqa.py _info() and _split_generators (huggingface/datasets "
    "datasets/mlqa/mlqa.py): configs mlqa.<context>.<question> have splits test + validation; "
    "features context, question, answers Sequence{answer_start int32, text string}, id. The "
    "registry's pin 397ed406 is described there as a loading-script revision (not re-checked); "
    "the export's features are assumed to be the script's.",
    configs={f"mlqa.{lang}.{lang}": HubConfig(("test", "validation"), _MLQA)
             for lang in ("en", "ar", "de", "es", "hi", "vi", "zh")},
    loading_script=True,
))

_TYDIQA_GOLDP = Features({
    "id": Value("string"),
    "title": Value("string"),
    "context": Value("string"),
    "question": Value("string"),
    "answers": {"text": List(Value("string")), "answer_start": List(Value("int32"))},
})
_add(HubSchema(
    repo="google-research-datasets/tydiqa",
    source="tydiqa.py _info() for secondary_task (huggingface/datasets datasets/tydiqa/tydiqa.py): "
    "id, title, context, question, answers Sequence{text string, answer_start int32}; splits "
    "train + validation. UNCONFIRMED whether the pin 824c1b74 is a loading-script or a Parquet "
    "revision: main is Parquet today (secondary_task/{train,validation}-00000-of-00001.parquet, "
    "e.g. at da78f23f), the only public pin of 824c1b74 (a lighteval custom task) sets "
    "trust_dataset=True; served here as Parquet (both paths of hub_load read the same schema).",
    configs={"secondary_task": HubConfig(("train", "validation"), _TYDIQA_GOLDP)},
))

_XCOPA = Features({
    "premise": Value("string"),
    "choice1": Value("string"),
    "choice2": Value("string"),
    "question": Value("string"),
    "label": Value("int32"),
    "idx": Value("int32"),
    "changed": Value("bool"),
})
_add(HubSchema(
    repo="cambridgeltl/xcopa",
    source="hub README.md dataset_info at the pin (https://huggingface.co/datasets/cambridgeltl/"
    "xcopa/blob/042f78955ba48e6404616762fa6e05e839c3907a/README.md, mirrored at hf.qhduan.com): "
    "Parquet configs et ht id it qu sw ta th tr vi zh (+ translation-* not read), splits "
    "validation/test; label is a plain int32 (no ClassLabel), question 'cause'/'effect'.",
    configs={lang: HubConfig(("validation", "test"), _XCOPA)
             for lang in ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")},
))

_TATOEBA = Features({"sentence1": Value("string"), "sentence2": Value("string")})
_add(HubSchema(
    repo="mteb/tatoeba-bitext-mining",
    source="MTEB's use of the repo (mteb/tasks/BitextMining/multilingual/TatoebaBitextMining.py "
    "_LANGUAGES '<iso3>-eng'; AbsTaskBitextMining and public code read split test, columns "
    "sentence1 = non-English, sentence2 = English). NOT confirmed from a dataset card: the "
    "exact feature list at 9080400 (extra columns possible) and whether 9080400 (the 2022 MTEB "
    "results revision, before datasets supported YAML configs) is a loading script -- assumed "
    "so (named configs then needed a script); newer 69e8f12 is Parquet.",
    configs={f"{iso3}-eng": HubConfig(("test",), _TATOEBA)
             for iso3 in ("afr", "ara", "bul", "ben", "deu", "ell", "spa", "est", "eus", "pes",
                          "fin", "fra", "heb", "hin", "hun", "ind", "ita", "jpn", "jav", "kat",
                          "kaz", "kor", "mal", "mar", "nld", "por", "rus", "swh", "tam", "tel",
                          "tha", "tgl", "tur", "urd", "vie", "cmn", "aze", "lit", "pol", "ukr",
                          "ron")},
    loading_script=True,
))

_SPAN = {"start": Value("int64"), "end": Value("int64")}
_MEWSLIX_MENTIONS = Features({
    "context": {
        "document_title": Value("string"),
        "document_url": Value("string"),
        "document_id": Value("string"),
        "language": Value("string"),
        "text": Value("string"),
        "sentence_spans": List(_SPAN),
    },
    "mentions": List({
        "example_id": Value("string"),
        "mention_span": {"start": Value("int64"), "end": Value("int64"), "text": Value("string")},
        "entity_id": Value("string"),
        "metadata": {"curid": Value("string"), "revid": Value("string"),
                     "text_md5": Value("string"), "mention_url": Value("string"),
                     "bin_name": Value("string")},
    }),
})
_MEWSLIX_ENTITIES = Features({
    "entity_id": Value("string"),
    "title": Value("string"),
    "description": Value("string"),
    "sentence_spans": List(_SPAN),
    "description_language": Value("string"),
    "description_url": Value("string"),
})
_add(HubSchema(
    repo="izhx/mewsli-x",
    source="UNCONFIRMED -- no card or script of izhx/mewsli-x was found. Configs <lang> and "
    "candidate_entities with split test are attested by public code "
    "(load_dataset('izhx/mewsli-x', 'candidate_entities', split='test'); per-language configs "
    "ar,de,en,es,fa,ja,pl,ro,ta,tr,uk; also a wikipedia_pairs training config, not read). The "
    "columns here are the official Mewsli-X JSONL records (google-research/google-research "
    "dense_representations_for_entity_retrieval/mel/mewsli_x/schema.py ContextualMentions / "
    "Entity, testdata/example_mentions.jsonl) as datasets' json builder would type them -- what "
    "the loader expects. Counter-evidence: a public evaluation script for this repo "
    "(engine/run_retrieval.py --dataset_name izhx/mewsli-x --dataset_config_name "
    "candidate_entities --test_config_names ar,...,uk --text_column_names mention,entity "
    "--corpus_text_column_name description --positive_id_column_name entity_id) reads flat, "
    "preprocessed rows; if so, the hub loader refuses them with a clear error "
    "(tests/hub: test_a_flat_mewslix_copy_is_refused_clearly) and `xstilts hub-schemas` "
    "shows the real columns: confirm on a hub-connected machine.",
    configs={**{lang: HubConfig(("test",), _MEWSLIX_MENTIONS)
                for lang in ("ar", "de", "en", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk")},
             "candidate_entities": HubConfig(("test",), _MEWSLIX_ENTITIES)},
))

# ---------------------------------------------------------------- English intermediate tasks
# (and the SQuAD / COPA training repos of the QA targets and XCOPA)

_GLUE_SOURCE = ("huggingface/datasets datasets/glue/dataset_infos.json (features of the GLUE "
                "loading script, kept by the hub's Parquet conversion of nyu-mll/glue, whose "
                "README dataset_info lists the same columns per config)")
_add(HubSchema(
    repo="nyu-mll/glue",
    source=_GLUE_SOURCE,
    configs={
        "mnli": HubConfig(
            ("train", "validation_matched", "validation_mismatched", "test_matched",
             "test_mismatched"),
            Features({"premise": Value("string"), "hypothesis": Value("string"),
                      "label": ClassLabel(names=["entailment", "neutral", "contradiction"]),
                      "idx": Value("int32")})),
        "qqp": HubConfig(
            ("train", "validation", "test"),
            Features({"question1": Value("string"), "question2": Value("string"),
                      "label": ClassLabel(names=["not_duplicate", "duplicate"]),
                      "idx": Value("int32")})),
        "sst2": HubConfig(
            ("train", "validation", "test"),
            Features({"sentence": Value("string"),
                      "label": ClassLabel(names=["negative", "positive"]),
                      "idx": Value("int32")})),
    },
))

_NLI3 = ClassLabel(names=["entailment", "neutral", "contradiction"])
_add(HubSchema(
    repo="stanfordnlp/snli",
    source="huggingface/datasets datasets/snli/dataset_infos.json (config plain_text; label -1 "
    "marks pairs without a gold label) = the README dataset_info of the Parquet version",
    configs={"plain_text": HubConfig(
        ("test", "validation", "train"),
        Features({"premise": Value("string"), "hypothesis": Value("string"), "label": _NLI3}))},
))
_add(HubSchema(
    repo="facebook/anli",
    source="huggingface/datasets datasets/anli/dataset_infos.json (config plain_text, splits "
    "per round) = the README dataset_info of the Parquet version",
    configs={"plain_text": HubConfig(
        tuple(f"{kind}_r{r}" for r in (1, 2, 3) for kind in ("train", "dev", "test")),
        Features({"uid": Value("string"), "premise": Value("string"),
                  "hypothesis": Value("string"), "label": _NLI3,
                  "reason": Value("string")}))},
))

_SQUAD = Features({"id": Value("string"), "title": Value("string"), "context": Value("string"),
                   "question": Value("string"),
                   "answers": Sequence({"text": Value("string"),
                                        "answer_start": Value("int32")})})
_add(HubSchema(
    repo="rajpurkar/squad",
    source="huggingface/datasets datasets/squad/dataset_infos.json (config plain_text; answers "
    "a sequence of {text, answer_start}) = the README dataset_info of the Parquet version",
    configs={"plain_text": HubConfig(("train", "validation"), _SQUAD)},
))
_add(HubSchema(
    repo="rajpurkar/squad_v2",
    source="huggingface/datasets datasets/squad_v2/dataset_infos.json (config squad_v2; "
    "unanswerable questions have empty answers) = the README dataset_info (Parquet)",
    configs={"squad_v2": HubConfig(("train", "validation"), _SQUAD)},
))
_add(HubSchema(
    repo="Rowan/hellaswag",
    source="huggingface/datasets datasets/hellaswag/dataset_infos.json (label is a string, "
    "'' on test; endings a sequence of 4 strings) = the README dataset_info (Parquet)",
    configs={"default": HubConfig(
        ("train", "test", "validation"),
        Features({"ind": Value("int32"), "activity_label": Value("string"),
                  "ctx_a": Value("string"), "ctx_b": Value("string"), "ctx": Value("string"),
                  "endings": Sequence(Value("string")), "source_id": Value("string"),
                  "split": Value("string"), "split_type": Value("string"),
                  "label": Value("string")}))},
))
_add(HubSchema(
    repo="tau/commonsense_qa",
    source="huggingface/datasets datasets/commonsense_qa/dataset_infos.json and the README "
    "dataset_info of the Parquet version (choices = {label: A-E, text}; answerKey '' on test)",
    configs={"default": HubConfig(
        ("train", "validation", "test"),
        Features({"id": Value("string"), "question": Value("string"),
                  "question_concept": Value("string"),
                  "choices": Sequence({"label": Value("string"), "text": Value("string")}),
                  "answerKey": Value("string")}))},
))
_add(HubSchema(
    repo="allenai/cosmos_qa",
    source="huggingface/datasets datasets/cosmos_qa/cosmos_qa.py _info() and "
    "dataset_infos.json (label int32; -1 on test): the features of its Parquet export",
    configs={"default": HubConfig(
        ("train", "test", "validation"),
        Features({"id": Value("string"), "context": Value("string"),
                  "question": Value("string"), "answer0": Value("string"),
                  "answer1": Value("string"), "answer2": Value("string"),
                  "answer3": Value("string"), "label": Value("int32")}))},
    loading_script=True,
))
_add(HubSchema(
    repo="allenai/social_i_qa",
    source="huggingface/datasets datasets/social_i_qa/social_i_qa.py _info() and "
    "dataset_infos.json (label a string '1'/'2'/'3'): the features of its Parquet export",
    configs={"default": HubConfig(
        ("train", "validation"),
        Features({"context": Value("string"), "question": Value("string"),
                  "answerA": Value("string"), "answerB": Value("string"),
                  "answerC": Value("string"), "label": Value("string")}))},
    loading_script=True,
))
_add(HubSchema(
    repo="aps/super_glue",
    source="huggingface/datasets datasets/super_glue/dataset_infos.json, config copa (label "
    "ClassLabel choice1/choice2; -1 on test) = the README dataset_info of the Parquet version",
    configs={"copa": HubConfig(
        ("train", "validation", "test"),
        Features({"premise": Value("string"), "choice1": Value("string"),
                  "choice2": Value("string"), "question": Value("string"),
                  "idx": Value("int32"), "label": ClassLabel(names=["choice1", "choice2"])}))},
))
