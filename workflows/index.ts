export { captureWorkflow } from './capture';
export { pauseSignal, resumeSignal, shardReaderWorkflow, statusQuery } from './shardReader';
export { streamSupervisorWorkflow } from './supervisor';
