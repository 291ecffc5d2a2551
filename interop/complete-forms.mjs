// node complete-forms.mjs AUTHORIZATION_URL REDIRECT_URI: completes oidc-provider's development
// login and consent forms headlessly (as the rig does for the TypeScript SDK) and prints the
// redirect back to REDIRECT_URI (carrying the code). Used by python-sdk-flow.py.
import { completeForms } from "./oidc-provider-as.mjs";

const [url, redirect] = process.argv.slice(2);
console.log(await completeForms(url, redirect));
