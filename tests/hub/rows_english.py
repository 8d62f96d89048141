"""Rows the hub emulator serves for the English intermediate tasks and the SQuAD / COPA training
repos of the QA targets and XCOPA (tests only), in the published schemas (xstilts.hub_schemas).
ClassLabel columns hold ids; each labelled split has rows with different ids, so a wrong
id -> name mapping shows in CHECKS."""

_CTX = ("Super Bowl 50 was an American football game. The Denver Broncos defeated the Carolina "
        "Panthers 24-10 to earn their third Super Bowl title.")


def _squad(qid: str, question: str, answer: str, context: str = _CTX) -> dict:
    starts = [context.index(answer)] if answer else []
    return {"id": qid, "title": "Super_Bowl_50", "context": context, "question": question,
            "answers": {"text": [answer] if answer else [], "answer_start": starts}}


def _nli(premise: str, hypothesis: str, label: int, **extra) -> dict:
    return {"premise": premise, "hypothesis": hypothesis, "label": label, **extra}


ROWS = {
    "nyu-mll/glue": {
        "mnli": {
            "train": [_nli("A man plays a guitar.", "A person makes music.", 0, idx=0),
                      _nli("A man plays a guitar.", "The man is asleep.", 2, idx=1),
                      _nli("A man plays a guitar.", "The man is a professional.", 1, idx=2)],
            "validation_matched": [_nli("Two dogs run.", "Animals are moving.", 0, idx=7),
                                   _nli("Two dogs run.", "The dogs sleep.", 2, idx=8)],
        },
        "qqp": {
            "train": [{"question1": "How do I learn Python?", "question2": "How can I learn "
                       "Python?", "label": 1, "idx": 0},
                      {"question1": "What is AI?", "question2": "Who won the cup?", "label": 0,
                       "idx": 1}],
            "validation": [{"question1": "Is tea healthy?", "question2": "Is coffee loud?",
                            "label": 0, "idx": 5},
                           {"question1": "How old is Earth?", "question2": "What is the age "
                            "of the Earth?", "label": 1, "idx": 6}],
        },
        "sst2": {
            "train": [{"sentence": "a gorgeous film", "label": 1, "idx": 0},
                      {"sentence": "a dull mess", "label": 0, "idx": 1}],
            "validation": [{"sentence": "it's a charming journey", "label": 1, "idx": 0},
                           {"sentence": "unfunny and slow", "label": 0, "idx": 1}],
        },
    },
    "stanfordnlp/snli": {"plain_text": {
        "train": [_nli("A woman reads.", "Someone is reading.", 0),
                  _nli("A woman reads.", "Nobody reads.", 2),
                  _nli("A woman reads.", "A woman reads a novel.", -1),  # no gold label
                  _nli("A woman reads.", "A woman reads a novel.", 1)],
        "validation": [_nli("A cat sits.", "A cat is sitting.", 0),
                       _nli("A cat sits.", "A cat is black.", 1)],
    }},
    "facebook/anli": {"plain_text": {
        f"{kind}_r{r}": [_nli(f"Round {r} premise.", "It is round one." if r == 1 else
                              "It is not round one.", 0, uid=f"{kind}{r}a", reason=""),
                         _nli(f"Round {r} premise.", "It is round nine.", 2, uid=f"{kind}{r}b",
                              reason="nine rounds never happened")]
        for r in (1, 2, 3) for kind in ("train", "dev")
    }},
    "rajpurkar/squad": {"plain_text": {
        "train": [_squad("56be4db0acb8001400a502ec", "Which team won Super Bowl 50?",
                         "Denver Broncos"),
                  _squad("56be4db0acb8001400a502ed", "What was the final score?", "24-10")],
        "validation": [_squad("56be4db0acb8001400a502ee", "Which team lost?",
                              "Carolina Panthers")],
    }},
    "rajpurkar/squad_v2": {"squad_v2": {
        "train": [_squad("5733be284776f41900661182", "Which team won?", "Denver Broncos"),
                  _squad("5a8d7bf7df8bba001a0f9ab1", "Which team won Super Bowl 49?", "")],
        "validation": [_squad("5a8d7bf7df8bba001a0f9ab2", "Who sang the anthem?", ""),
                       _squad("56ddde6b9a695914005b9628", "How many titles had Denver?",
                              "third")],
    }},
    "Rowan/hellaswag": {"default": {
        split: [{"ind": 4 + i, "activity_label": "Removing ice from car",
                 "ctx_a": "Then, the man writes over the snow covering the window of a car.",
                 "ctx_b": "then", "ctx": "Then, the man writes over the snow covering the "
                 "window of a car. then", "endings": [f"ending {j} of {split} {i}"
                                                      for j in range(4)],
                 "source_id": "activitynet~v_-1IBHYS3L-Y", "split": split,
                 "split_type": "indomain", "label": str(label)}
                for i, label in enumerate((3, 1))]
        for split in ("train", "validation")
    }},
    "tau/commonsense_qa": {"default": {
        split: [{"id": f"{split}-1", "question": "Where would you find a jellyfish?",
                 "question_concept": "jellyfish",
                 "choices": {"label": ["A", "B", "C", "D", "E"],
                             "text": ["desert", "ocean", "library", "oven", "attic"]},
                 "answerKey": "B"},
                {"id": f"{split}-2", "question": "What do you use to cut paper?",
                 "question_concept": "cut",
                 "choices": {"label": ["A", "B", "C", "D", "E"],
                             "text": ["spoon", "pillow", "cloud", "river", "scissors"]},
                 "answerKey": "E"}]
        for split in ("train", "validation")
    }},
    "allenai/cosmos_qa": {"default": {
        split: [{"id": f"3Q9SPIIRWJKVQ8244310E8TUS6YWAC##{split}", "context": "Good Old War "
                 "and person L : I saw both of these bands Wednesday night.",
                 "question": "In the future , will this person go to see other bands play ?",
                 "answer0": "None of the above choices .", "answer1": "This person likes "
                 "music and likes to see the show .", "answer2": "This person only likes Good "
                 "Old War .", "answer3": "Other bands are not on tour .", "label": label}
                for label in (1, 3)]
        for split in ("train", "validation")
    }},
    "allenai/social_i_qa": {"default": {
        split: [{"context": "Cameron decided to have a barbecue and gathered her friends.",
                 "question": "How would Others feel as a result?",
                 "answerA": "like attending", "answerB": "like staying home",
                 "answerC": "a good friend to have", "label": "1"},
                {"context": "Jan needed to give out jobs for an upcoming project at work.",
                 "question": "What will Others want to do next?",
                 "answerA": "disagree with Jan", "answerB": "get to work",
                 "answerC": "argue with the assignments", "label": "2"}]
        for split in ("train", "validation")
    }},
    "aps/super_glue": {"copa": {
        "train": [{"premise": "My body cast a shadow over the grass.", "choice1": "The sun was "
                   "rising.", "choice2": "The grass was cut.", "question": "cause", "idx": 0,
                   "label": 0},
                  {"premise": "The woman tolerated her friend's difficult behavior.",
                   "choice1": "The woman knew her friend was going through a hard time.",
                   "choice2": "The woman felt that her friend took advantage of her kindness.",
                   "question": "cause", "idx": 1, "label": 0},
                  {"premise": "The women met for coffee.", "choice1": "The cafe reopened in a "
                   "new location.", "choice2": "They wanted to catch up with each other.",
                   "question": "cause", "idx": 2, "label": 1}],
        "validation": [{"premise": "The man turned on the faucet.", "choice1": "The toilet "
                        "filled with water.", "choice2": "Water flowed from the spout.",
                        "question": "effect", "idx": 0, "label": 1}],
    }},
}

LOADS = {name: ("en",) for name in ("mnli", "qqp", "sst2", "snli", "anli", "squad", "squad2",
                                    "hellaswag", "commonsenseqa", "cosmosqa", "socialiqa")}

CHECKS = {
    "mnli": [("en", "train", 0, "label_name", "entailment"),
             ("en", "train", 1, "label_name", "contradiction"),
             ("en", "train", 2, "label_name", "neutral"),
             ("en", "train", 1, "id", "1"),
             ("en", "dev", 1, "label_name", "contradiction"),
             ("en", "dev", 0, "text_b", "Animals are moving.")],
    "qqp": [("en", "train", 0, "label_name", "duplicate"),
            ("en", "train", 1, "label_name", "not_duplicate"),
            ("en", "dev", 1, "label_name", "duplicate"),
            ("en", "dev", 0, "text_a", "Is tea healthy?")],
    "sst2": [("en", "train", 0, "label_name", "positive"),
             ("en", "train", 1, "label_name", "negative"),
             ("en", "dev", 1, "label_name", "negative"),
             ("en", "dev", 0, "text", "it's a charming journey")],
    "snli": [("en", "train", 0, "label_name", "entailment"),
             ("en", "train", 1, "label_name", "contradiction"),
             ("en", "train", 2, "label_name", "neutral"),  # the -1 row is dropped
             ("en", "train", 2, "id", "3"),
             ("en", "dev", 1, "label_name", "neutral")],
    "anli": [("en", "train", 0, "label_name", "entailment"),
             ("en", "train", 1, "label_name", "contradiction"),
             ("en", "train", 4, "id", "train3a"),
             ("en", "dev", 3, "id", "dev2b"),
             ("en", "dev", 5, "label_name", "contradiction")],
    "squad": [("en", "train", 1, "answers", {"text": ["24-10"], "answer_start": [95]}),
              ("en", "dev", 0, "id", "56be4db0acb8001400a502ee"),
              ("en", "dev", 0, "question", "Which team lost?")],
    "squad2": [("en", "train", 1, "answers", {"text": [], "answer_start": []}),
               ("en", "dev", 1, "answers", {"text": ["third"], "answer_start": [115]})],
    "hellaswag": [("en", "train", 0, "label", 3), ("en", "train", 1, "label", 1),
                  ("en", "dev", 0, "id", "4"),
                  ("en", "dev", 1, "choices", [f"ending {j} of validation 1" for j in range(4)])],
    "commonsenseqa": [("en", "train", 0, "label", 1), ("en", "train", 1, "label", 4),
                      ("en", "dev", 1, "choices", ["spoon", "pillow", "cloud", "river",
                                                   "scissors"]),
                      ("en", "dev", 0, "context", "Where would you find a jellyfish?")],
    "cosmosqa": [("en", "train", 0, "label", 1), ("en", "train", 1, "label", 3),
                 ("en", "dev", 1, "choices", ["None of the above choices .",
                                              "This person likes music and likes to see the "
                                              "show .", "This person only likes Good Old War .",
                                              "Other bands are not on tour ."])],
    "socialiqa": [("en", "train", 0, "label", 0), ("en", "train", 1, "label", 1),
                  ("en", "dev", 1, "choices", ["disagree with Jan", "get to work",
                                               "argue with the assignments"])],
    # XCOPA's English train/dev = COPA (SuperGLUE): added to the targets module's xcopa checks
    "xcopa": [("en", "train", 2, "label", 1), ("en", "train", 0, "label", 0),
              ("en", "train", 0, "context", "My body cast a shadow over the grass. What was "
               "the cause?"),
              ("en", "dev", 0, "label", 1),
              ("en", "dev", 0, "choices", ["The toilet filled with water.",
                                           "Water flowed from the spout."])],
    # the QA targets' English train/dev = SQuAD v1.1
    "xquad": [("en", "train", 0, "answers", {"text": ["Denver Broncos"], "answer_start": [49]}),
              ("en", "dev", 0, "id", "56be4db0acb8001400a502ee")],
}
