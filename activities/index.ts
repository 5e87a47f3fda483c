import type { PipelineConfig } from '../infra/config';
import { createCaptureActivities } from './capture';
import { createPipelineActivities } from './pipeline';
import { streamReaderActivities } from './streamReader';

/** Every activity the worker hosts; workflows import this type only. */
export function createActivities(config: PipelineConfig) {
  return {
    ...streamReaderActivities,
    ...createPipelineActivities(config),
    ...createCaptureActivities(config),
  };
}

export type Activities = ReturnType<typeof createActivities>;
