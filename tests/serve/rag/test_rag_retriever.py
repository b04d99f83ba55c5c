"""Retrieval over a real index: dense, BM25, hybrid (RRF and weighted), reranking, de-duplication."""
from __future__ import annotations

import pytest

from core.recipe.schema import ChunkSettings, EmbedderSettings, RagSection, RetrievalSettings
from serve.rag.embedder import model_location
from serve.rag.index import build_index
from serve.rag.retriever import Hit, collapse, open_retriever, rrf
from serve.rag.store import RagError
from serve.rag.types import Retriever, Source
from tests.serve.rag.rag_corpus import CORPUS, write_corpus

CHUNK = ChunkSettings(size=120, overlap=20)


def rag_with(**retrieval) -> RagSection:
    return RagSection(chunk=CHUNK, retrieval=RetrievalSettings(**retrieval))


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, embedder):
    tmp = tmp_path_factory.mktemp("rag")
    build_index(rag_with(), write_corpus(tmp / "corpus.jsonl", CORPUS), tmp / "index", "medkit-test",
                embedder=embedder, progress=False)
    return tmp / "index"


@pytest.fixture(scope="module")
def opened(index_dir, embedder):
    made = []

    def open_(**retrieval):
        retriever = open_retriever(rag_with(**retrieval), index_dir, embedder=embedder)
        made.append(retriever)
        return retriever

    yield open_
    for retriever in made:
        retriever.close()


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
@pytest.mark.parametrize("query, doc", [("嗜铬细胞瘤", "zh-pheo"), ("甲氧基肾上腺素", "zh-pheo"),
                                        ("血清铁蛋白", "zh-ida"), ("budesonide", "en-asthma")])
def test_the_passage_with_the_rare_term_comes_first(opened, mode, query, doc):
    sources = opened(mode=mode).search(query, 3)
    assert sources[0].doc_id == doc


def test_dense_finds_the_english_passage_by_meaning(opened):
    top = opened(mode="dense").search("adrenal gland tumour that secretes catecholamines", 3)[0]
    assert top.doc_id == "en-pheo" and 0.3 < top.score <= 1.0


@pytest.mark.parametrize("settings", [{"mode": "dense"}, {"mode": "bm25"}, {"mode": "hybrid", "fusion": "rrf"},
                                      {"mode": "hybrid", "fusion": "weighted", "dense_weight": 0.3}])
@pytest.mark.parametrize("query", ["高血压患者饮食", "stroke warning signs", "阿莫西林过敏"])
def test_scores_are_in_0_1_and_sorted(opened, settings, query):
    sources = opened(**settings).search(query, 8)
    assert sources and all(isinstance(s, Source) for s in sources)
    scores = [s.score for s in sources]
    assert all(0.0 <= x <= 1.0 for x in scores)
    assert scores == sorted(scores, reverse=True)
    assert len({s.chunk_id for s in sources}) == len(sources)
    assert all(s.text and s.title and s.chunk_id.startswith(s.doc_id + "-") for s in sources)


def test_hybrid_rrf_gives_about_1_to_the_top_of_both_lists(opened):
    sources = opened(mode="hybrid", fusion="rrf").search("pheochromocytoma plasma free metanephrines", 3)
    assert sources[0].doc_id == "en-pheo" and sources[0].score == pytest.approx(1.0)
    assert sources[1].score < 1.0


def test_bm25_mode_scales_the_best_hit_to_1(opened):
    assert opened(mode="bm25").search("奥司他韦", 3)[0].score == pytest.approx(1.0)


def test_rrf_and_collapse_on_hand_made_lists():
    a = [Hit("x-0", 0.9, text="甲"), Hit("y-0", 0.8, text="乙")]
    b = [Hit("y-0", 7.0, text="乙"), Hit("z-0", 3.0, text="丙")]
    fused = rrf([a, b], n_lists=2)
    assert [h.chunk_id for h in fused] == ["y-0", "x-0", "z-0"]
    assert fused[0].score == pytest.approx((1 / 62 + 1 / 61) / (2 / 61))
    same = "阿莫西林是常用的青霉素类抗生素，用于细菌感染。"
    hits = [Hit("a-0", 0.9, text=same + "疗程七天。"), Hit("b-0", 0.8, text=same + "疗程七天！"),
            Hit("c-0", 0.7, text="完全不同的内容")]
    assert [h.chunk_id for h in collapse(hits, 3, 0.9)] == ["a-0", "c-0"]
    assert [h.chunk_id for h in collapse(hits, 1, 0.9)] == ["a-0"]


def test_near_duplicate_chunks_collapse_to_the_best(opened):
    query = "阿莫西林 青霉素过敏 疗程"
    collapsed = opened(mode="hybrid").search(query, 5)
    dup_ids = [s.doc_id for s in collapsed if s.doc_id.startswith("rx-dup")]
    assert len(dup_ids) == 1 and collapsed[0].doc_id == dup_ids[0]
    assert len(collapsed) == 5                            # the slot went to the next distinct passage
    kept_both = opened(mode="hybrid", dedupe_threshold=1.0).search(query, 5)
    assert {s.doc_id for s in kept_both} >= {"rx-dup-a", "rx-dup-b"}


def test_describe_and_protocol(opened):
    retriever: Retriever = opened(mode="hybrid")      # the protocol is not runtime-checkable
    assert callable(retriever.search) and callable(retriever.describe)
    n = retriever.collection.count()
    assert retriever.describe() == {"collection": "medkit-test", "chunks": n, "bm25_chunks": n,
                                    "embedder": "all-MiniLM-L6-v2", "dim": 384, "mode": "hybrid", "complete": True}
    assert retriever.search("   ", 5) == []
    assert len(retriever.search("高血压", 50)) <= retriever.collection.count()


def test_reranker_rescores_into_0_1(opened, index_dir, embedder):
    # No cross-encoder ships offline: MiniLM's weights with a fresh (seeded) classification head stand
    # in for one. The numbers mean nothing; the path (load, score pairs, sigmoid, sort) is what is tested.
    import torch
    torch.manual_seed(0)
    rag = rag_with(mode="hybrid", reranker=model_location("all-MiniLM-L6-v2"))
    retriever = open_retriever(rag, index_dir, embedder=embedder)
    sources = retriever.search("高血压", 4)
    # each score is the cross-encoder's own probability for (query, passage): with reranking off the
    # fused hybrid scores come back instead, and this fails
    expected = retriever.reranker.predict([("高血压", s.text) for s in sources], show_progress_bar=False,
                                          activation_fn=torch.nn.Sigmoid())
    retriever.close()
    scores = [s.score for s in sources]
    assert len(sources) == 4 and all(0.0 <= x <= 1.0 for x in scores) and scores == sorted(scores, reverse=True)
    assert scores == pytest.approx([float(x) for x in expected], abs=1e-5)
    fused = [s.score for s in opened(mode="hybrid").search("高血压", 4)]
    assert fused != pytest.approx(scores, abs=1e-3), "the reranker left the fused scores as they were"


def test_unloadable_reranker_names_the_setting(index_dir, embedder):
    with pytest.raises(RagError, match=r"rag.retrieval.reranker = 'nobody/no-such-reranker' cannot be loaded"):
        open_retriever(rag_with(reranker="nobody/no-such-reranker"), index_dir, embedder=embedder)


def test_other_embedder_in_recipe_is_a_clear_error(index_dir):
    rag = RagSection(chunk=CHUNK, embedder=EmbedderSettings(model="BAAI/bge-small-zh-v1.5"))
    with pytest.raises(RagError) as err:
        open_retriever(rag, index_dir)
    assert str(err.value).startswith("index built with all-MiniLM-L6-v2 (dim 384), recipe asks for "
                                     "BAAI/bge-small-zh-v1.5: rebuild with `make index ARGS=--reset`")


def test_unloadable_embedder_names_the_setting():
    from serve.rag.embedder import EmbedderError, load_embedder
    with pytest.raises(EmbedderError, match=r"rag.embedder.model = 'nobody/no-such-model' cannot be loaded offline"):
        load_embedder(EmbedderSettings(model="nobody/no-such-model"))


def test_missing_index_says_run_make_index(tmp_path):
    with pytest.raises(RagError, match=r"no RAG index in .*run `make index"):
        open_retriever(rag_with(), tmp_path / "nothing-here")
