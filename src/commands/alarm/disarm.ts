import type { AlarmResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { jsonAlarm, simpleAlarms } from '../../cli/output.js';

export default class AlarmDisarm extends ClientCommand<AlarmResponse> {
  static override summary = 'Disarms all alarms';

  static override description =
    'Disarms every raised alarm, like etcdctl alarm disarm, and prints the alarms it disarmed. Free space first (compaction, then defrag): a NOSPACE alarm is raised again by the next write that does not fit.';

  static override examples = ['<%= config.bin %> <%= command.id %>'];

  async run(): Promise<AlarmResponse> {
    const { flags } = await this.parse(AlarmDisarm);
    const client = await this.connect(flags);
    const resp = await client.alarmDisarm();
    if (this.writeOut(flags) === 'json') this.printJson(resp);
    else this.write(Buffer.from(simpleAlarms(resp.alarms)));
    return resp;
  }

  protected jsonOf(result: AlarmResponse): string {
    return jsonAlarm(result);
  }
}
