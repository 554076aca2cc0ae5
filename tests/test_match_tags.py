from matches.templatetags.match_tags import match_short


def test_a_long_match_id_keeps_its_distinctive_end():
    # Ids of one run share their start; cutting the end (the old truncation) made them all look alike.
    a, b = "684d1a4264a80000001b2c3d4e5f6071", "684d1a4264a8000000aa99887766ffee"
    assert match_short(a) == "684d1a…3d4e5f6071" and match_short(b) == "684d1a…887766ffee"
    assert match_short(a) != match_short(b)


def test_a_short_match_id_is_shown_whole():
    assert match_short("match-000001") == "match-000001"
