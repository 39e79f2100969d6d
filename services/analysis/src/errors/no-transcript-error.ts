import { FinalError } from "./final-error.ts";

/** The message of {@link NoTranscriptError}, also what `start` answers for a video without one. */
export const NO_TRANSCRIPT = "no transcript available";

/**
 * The video has no transcript to ask questions about (a media video's is gone or blank, a URL has
 * no captions): the analysis fails for good with `not_found`, and its questions answer 404.
 */
export class NoTranscriptError extends FinalError {
  constructor() {
    super("not_found", NO_TRANSCRIPT);
  }
}
