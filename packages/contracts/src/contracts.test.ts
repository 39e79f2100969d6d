import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  analysisEventKindOf,
  analysisEvents,
  buildOpenApiDocument,
  catalogs,
  DEAD_LETTER_SUBJECTS,
  deadLetterSubject,
  deviceSubjects,
  ErrorBody,
  ErrorCode,
  httpRoutes,
  invalidArgument,
  liveSubjects,
  openApiPath,
  SERVICE_NAMES,
  serviceOfSubject,
  TrellisError,
  transcriptFormatOf,
} from "./index.ts";

describe("subjects", () => {
  it("every service has a versioned health subject, and subjects are unique", () => {
    const subjects = SERVICE_NAMES.flatMap((s) => Object.values(catalogs[s]).map((e) => e.subject));
    for (const s of SERVICE_NAMES) expect(catalogs[s].health.subject).toBe(`${s}.v1.health`);
    expect(new Set(subjects).size).toBe(subjects.length);
    for (const subject of subjects) expect(subject).toMatch(/^[a-z]+\.v\d+\.[a-z0-9_.]+$/);
  });
});

describe("subject parsers", () => {
  const id = "6f1c0e1e-7a57-4f0e-9b7e-3d2a1c0b9a88";
  it("read back what the subject builders wrote", () => {
    for (const s of SERVICE_NAMES) expect(serviceOfSubject(catalogs[s].health.subject)).toBe(s);
    expect(serviceOfSubject("nodots")).toBe("nodots");
    expect(analysisEventKindOf(analysisEvents.failed.subjectFor(id))).toBe("failed");
    expect(liveSubjects.kindOf(liveSubjects.of("m1", "alarm"))).toBe("alarm");
    expect(deviceSubjects.monitorTokenOf(deviceSubjects.readings("Not-An-Id"))).toBe("Not-An-Id");
    expect(deviceSubjects.monitorOfReadings(deviceSubjects.readings("Not-An-Id"))).toBeNull();
    expect(deviceSubjects.monitorTokenOf("telemetry.v1")).toBe("");
  });
});

describe("dead letters", () => {
  it("each consumer's subject lies under the dead-letter stream's subjects", () => {
    const prefix = DEAD_LETTER_SUBJECTS.replace(/>$/, "");
    for (const service of SERVICE_NAMES) {
      const subject = deadLetterSubject(service, "some-consumer");
      expect(subject.startsWith(prefix)).toBe(true);
      expect(subject.split(".")).toEqual(["deadletter", service, "some-consumer"]);
    }
  });
});

describe("TrellisError", () => {
  it("survives a round trip through its wire body", () => {
    const original = new TrellisError("unavailable", "media is unavailable", {
      details: { service: "media", retryAfterSeconds: 1 },
    });
    const wire = JSON.parse(JSON.stringify(original.toBody()));
    const back = TrellisError.fromBody(ErrorBody.parse(wire));
    expect(back).toBeInstanceOf(TrellisError);
    expect(back.code).toBe("unavailable");
    expect(back.message).toBe("media is unavailable");
    expect(back.retryable).toBe(true);
    expect(back.details).toEqual({ service: "media", retryAfterSeconds: 1 });
  });

  it("marks only transient codes retryable", () => {
    const retryable = ErrorCode.options.filter((c) => new TrellisError(c, "x").retryable);
    expect(retryable.sort()).toEqual(["deadline_exceeded", "rate_limited", "unavailable"]);
  });

  it("rejects an error body with an unknown code", () => {
    expect(ErrorBody.safeParse({ code: "teapot", message: "x", retryable: false }).success).toBe(false);
  });

  it("invalidArgument lists each offending field", () => {
    const schema = z.object({ name: z.string(), age: z.number().int() });
    const result = schema.safeParse({ name: 1, age: 1.5 });
    expect(result.success).toBe(false);
    if (result.success) return;
    const err = invalidArgument(result.error, "body");
    expect(err.code).toBe("invalid_argument");
    expect(err.details?.issues?.map((i) => i.path).sort()).toEqual(["age", "name"]);
    expect(err.message).toMatch(/^invalid body: /);
  });
});

describe("OpenAPI", () => {
  it("converts express paths to OpenAPI templates", () => {
    expect(openApiPath("/api/v2/services/:service/health")).toBe("/api/v2/services/{service}/health");
  });

  it("documents every route with its parameters and responses", () => {
    const doc = buildOpenApiDocument(httpRoutes, { title: "t", version: "1" }) as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            operationId: string;
            parameters: { name: string; in: string; schema: { enum?: string[] } }[];
            responses: Record<string, unknown>;
          }
        >
      >;
    };
    expect(doc.openapi).toBe("3.1.0");
    const operations = Object.values(doc.paths).reduce((n, methods) => n + Object.keys(methods).length, 0);
    expect(operations).toBe(httpRoutes.length);
    const op = doc.paths["/api/v2/services/{service}/health"]?.get;
    expect(op?.operationId).toBe("getServiceHealth");
    expect(op?.parameters[0]).toMatchObject({ name: "service", in: "path", schema: { enum: [...SERVICE_NAMES] } });
    expect(Object.keys(op?.responses ?? {})).toEqual(expect.arrayContaining(["200", "400", "503", "504"]));
  });
});

describe("transcript media types", () => {
  it("name a format by Content-Type, parameters ignored; anything else is none", () => {
    expect(transcriptFormatOf("text/vtt; charset=utf-8")).toBe("vtt");
    expect(transcriptFormatOf("application/x-subrip")).toBe("srt");
    expect(transcriptFormatOf("TEXT/PLAIN")).toBe("text");
    expect(transcriptFormatOf("application/json")).toBeNull();
    expect(transcriptFormatOf(undefined)).toBeNull();
  });
});
