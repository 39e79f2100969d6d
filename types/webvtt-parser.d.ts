/** The part of webvtt-parser (a CommonJS module without types) that media and analysis use. */
declare module "webvtt-parser" {
  export interface WebVttCue {
    id: string;
    /** Seconds. */
    startTime: number;
    endTime: number;
    text: string;
  }
  export interface WebVttError {
    message: string;
    /** 1-based. */
    line: number;
    col?: number;
  }
  export class WebVTTParser {
    parse(input: string, mode?: "metadata" | "chapters"): { cues: WebVttCue[]; errors: WebVttError[] };
  }
  const webvtt: { WebVTTParser: typeof WebVTTParser };
  export default webvtt;
}
