/** The URL with any password replaced by `***`, for logs and alerts. */
export function redactUrl(text: string): string {
  return text.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}
