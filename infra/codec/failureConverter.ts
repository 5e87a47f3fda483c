/**
 * The failure converter of every Temporal client and worker of the project (loaded by path, also
 * inside the workflow sandbox, so it imports nothing but @temporalio/common): failure messages and
 * stack traces go into an encoded attributes payload, which the payload codec encrypts, instead of
 * plain text in workflow history.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
