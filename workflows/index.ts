export { captureWorkflow, healthQuery } from './capture';
export { pauseSignal, resumeSignal, shardReaderWorkflow, skipRecordSignal, statusQuery } from './shardReader';
export {
  overviewQuery,
  pauseAllSignal,
  rescanSignal,
  resumeAllSignal,
  streamSupervisorWorkflow,
} from './supervisor';
export { redriveProgressQuery, redriveWorkflow } from './redrive';
export { backfillProgressQuery, backfillWorkflow } from './backfill';
export {
  reservationChangedSignal,
  reservationExpiryWorkflow,
  reservationStatusQuery,
} from './reservationExpiry';
