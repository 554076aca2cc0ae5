# The words lookup of the queue search as a function with parallel plans turned off inside it: Postgres prices any
# prefix text search at 2% of the table, so at 10,000,000 groups it planned two parallel workers for a lookup of a
# few index pages (15 of its 16 ms were the workers' start). A function's own SET clause scopes the setting to the
# lookup alone, in the one statement. The expression is group_search_words' (matches/words.py), word for word.

from django.db import migrations

CREATE = """
CREATE FUNCTION matches_group_words(p_run bigint, p_query tsquery, p_limit integer)
RETURNS TABLE (id bigint, search_text text)
LANGUAGE sql STABLE
SET max_parallel_workers_per_gather = 0
AS $$
    SELECT g.id, g.search_text FROM matches_matchgroup g
    WHERE g.run_id = p_run
      AND to_tsvector('simple'::regconfig, translate(COALESCE(g.search_text, ''::text), '@._-+/'::text, '      '::text))
          @@ p_query
    LIMIT p_limit
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("matches", "0022_search_words"),
    ]

    operations = [
        migrations.RunSQL(CREATE, "DROP FUNCTION matches_group_words(bigint, tsquery, integer);"),
        # The search tells common words by the words index's statistics (queue_search.common_words), which exist
        # only after an ANALYZE: without them a common word is looked up in the index, 2.5 s for `ann` at 10M.
        migrations.RunSQL("ANALYZE matches_matchgroup", migrations.RunSQL.noop),
    ]
