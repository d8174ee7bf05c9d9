-- 0004: the live workspaces of a template by owner. Counting a template's owners (list_templates
-- orders templates by it) and its live workspaces reads this index alone (deleted is in it so
-- that no table row is needed), instead of every workspace row; it serves the lookups by
-- template that the index it replaces served.
DROP INDEX workspaces_template;
CREATE INDEX workspaces_template_owner ON workspaces (template_id, owner_id, deleted)
    WHERE deleted = 0;
