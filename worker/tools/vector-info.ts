/**
 * The vector tools' catalog lookup, alone so that tests can run it as a
 * caller role without loading the tool registry.
 */

/**
 * pgvector's version and, for `$1`, the table's columns and primary key. With
 * `$2` (a caller acting as its own database role) a table that role may not
 * use at all reads as missing: the catalogs are readable by every role, so
 * without this a restricted caller would learn other tables' columns by name.
 */
export const INFO_SQL = `select e.extversion as version, n.nspname as schema,
  case when e.oid is null then exists (select 1 from pg_available_extensions where name = 'vector') end as available,
  c.oid is not null as table_exists,
  (select coalesce(json_agg(json_build_object('name', a.attname, 'type', t.typname, 'typmod', a.atttypmod, 'ext', t.typnamespace = e.extnamespace, 'sqltype', format_type(a.atttypid, a.atttypmod)) order by a.attnum), '[]')
     from pg_attribute a join pg_type t on t.oid = a.atttypid where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
  (select coalesce(json_agg(a.attname order by k.ord), '[]') from pg_index i cross join unnest(i.indkey) with ordinality k(attnum, ord)
     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum where i.indrelid = c.oid and i.indisprimary) as pk
from (select case when $2 and r.oid is not null and not has_any_column_privilege(r.oid, 'SELECT, INSERT, UPDATE, REFERENCES') then null else r.oid end as oid
      from (select to_regclass($1) as oid) r) c
  left join pg_extension e on e.extname = 'vector' left join pg_namespace n on n.oid = e.extnamespace`;
