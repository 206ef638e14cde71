-- Erasure guards, checked by the database at write time (a trigger sees committed data even when
-- the statement's own snapshot is older), so a write racing an erasure cannot bring data back.

-- No new key for an erased user: a session cannot be started for them again.
CREATE FUNCTION parley_refuse_key_for_erased_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.user_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM erased_users WHERE tenant_id = NEW.tenant_id AND user_id = NEW.user_id
  ) THEN
    RAISE EXCEPTION 'user % was erased', NEW.user_id USING ERRCODE = 'P0002';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER data_keys_not_for_erased_users BEFORE INSERT ON data_keys
  FOR EACH ROW EXECUTE FUNCTION parley_refuse_key_for_erased_user();
--> statement-breakpoint
-- No read model for an erased stream: late projector writes and rebuilds skip it silently.
CREATE FUNCTION parley_skip_projection_of_erased_stream() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM streams WHERE stream_id = NEW.stream_id AND erased_at IS NOT NULL) THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER session_projections_not_for_erased BEFORE INSERT OR UPDATE ON session_projections
  FOR EACH ROW EXECUTE FUNCTION parley_skip_projection_of_erased_stream();
