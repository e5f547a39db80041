-- Encode outputs of a job submitted for a shot are linked to that shot with
-- the job that made them (shot_outputs.job_id, from 0101_provenance.sql), so
-- a release's manifest names the jobs and their trail digests.
ALTER TABLE shot_outputs
  ADD CONSTRAINT shot_outputs_job FOREIGN KEY (job_id, workspace_id)
  REFERENCES jobs (id, workspace_id) ON DELETE SET NULL (job_id);
