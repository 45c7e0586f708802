// Replaced at build time (build.mjs) by the version in package.json.
declare const __SDK_VERSION__: string;
